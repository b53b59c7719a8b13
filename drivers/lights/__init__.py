"""Lights and relays: Zigbee2MQTT lights, Tasmota relays and dimmers, all on MQTT."""
