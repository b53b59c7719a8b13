"""Device drivers: one per protocol, each a pure codec plus a device class on an
injected transport. Imports nothing from controller/, kiosk/ or simulators/."""
