"""The runtime: config, rooms, event bus, store, HTTP API, CLI."""
