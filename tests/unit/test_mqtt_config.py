"""The site's `mqtt:` section and MQTT devices in a config: errors with their places."""

import pytest

from controller.app import broker_settings
from controller.config import ConfigError, parse_config
from controller.mqtt_broker import EmbeddedBroker

LIGHT = """
rooms:
  - id: hall
    devices:
      - {id: lights, driver: z2m_light, options: {friendly_name: hall/ceiling}}
"""


def problems(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    return {p.place: p.message for p in error.value.problems}


def test_no_mqtt_section_means_the_embedded_broker_for_a_site_with_mqtt_devices():
    config = parse_config("site: hq" + LIGHT)
    assert config.uses_mqtt() and not config.mqtt.external
    embedded = EmbeddedBroker()
    embedded.port = 41883
    settings = broker_settings(config, embedded)
    assert (settings.host, settings.port) == ("127.0.0.1", 41883)
    assert settings.availability_topic == "roomctl/hq/controllers/roomctl-hq/availability"


def test_a_site_without_mqtt_devices_starts_no_broker_unless_asked():
    config = parse_config("site: hq\nrooms: [{id: r, devices: [{id: p, driver: pjlink, simulate: true}]}]")
    assert not config.uses_mqtt()
    assert parse_config("site: hq\nmqtt: {embedded: true}\nrooms: [{id: r}]").uses_mqtt()


def test_a_named_broker_with_tls_and_login():
    config = parse_config("site: hq\nmqtt: {host: broker.venue.lan, tls: true, username: roomctl, password: s3cret}"
                          + LIGHT)
    settings = broker_settings(config, None)
    assert (settings.host, settings.port, settings.tls) == ("broker.venue.lan", 8883, True)
    assert (settings.username, settings.password) == ("roomctl", "s3cret")
    assert "s3cret" not in repr(config.mqtt)  # a SecretStr in the config model


def test_mqtt_section_errors_have_places():
    found = problems("site: hq\nmqtt: {username: x, tls: false, ca_file: /ca.pem, host: b}" + LIGHT)
    assert found == {"mqtt": "ca_file is for tls: true"}
    found = problems("site: hq\nmqtt: {port: 1884}" + LIGHT)
    assert "host" in found["mqtt"]
    found = problems("site: hq\nmqtt: {host: b, password: p}" + LIGHT)
    assert found["mqtt"] == "a password needs a username"


def test_mqtt_devices_take_topics_in_options_not_addresses():
    found = problems("""site: hq
rooms:
  - id: hall
    devices:
      - {id: lights, driver: z2m_light, host: 10.0.0.9, options: {friendly_name: ceiling}}
      - {id: spots, driver: tasmota_dimmer, options: {topic: "a/b"}}
      - {id: ac, driver: modbus_ac, serial_port: /dev/ttyUSB0, options: {unit_id: 300}}
""")
    assert "MQTT broker" in found["rooms[0].devices[0]"]
    assert "rooms[0].devices[1].options.topic" in found
    assert "rooms[0].devices[2].options.unit_id" in found
