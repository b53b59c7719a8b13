"""Climate: Zigbee2MQTT thermostats on MQTT, Modbus RTU air-conditioning gateways on RS-485."""
