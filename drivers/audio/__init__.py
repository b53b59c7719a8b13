"""Audio: wireless microphone receivers (Shure) and digital mixers (X32, X-Air)."""
