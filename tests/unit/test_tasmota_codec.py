"""Tasmota's MQTT payloads as its documentation shows them."""

import pytest

from drivers.capabilities import Power
from drivers.errors import ProtocolError
from drivers.lights.tasmota import parse_lwt, parse_result, power_key


def test_lwt_is_online_or_offline():
    assert parse_lwt(b"Online") is True and parse_lwt(b"Offline") is False
    with pytest.raises(ProtocolError):
        parse_lwt(b"online?")


@pytest.mark.parametrize("payload, expected", [
    (b'{"POWER":"OFF"}', (Power.OFF, None)),  # "Ask the device for status" in the MQTT docs
    (b'{"POWER":"ON","Dimmer":56,"Color":"1A0B048E"}', (Power.ON, 56)),
    (b'{"Time":"2024-02-24T22:20:38","Uptime":"0T00:10:11","POWER":"OFF","Wifi":{"AP":1}}', (Power.OFF, None)),
    (b'{"Command":"Unknown"}', (None, None)),
])
def test_result_and_tele_state(payload, expected):
    assert parse_result(payload, "POWER") == expected


def test_multi_relay_devices_use_power_n():
    assert power_key(None) == "POWER" and power_key(2) == "POWER2"
    assert parse_result(b'{"POWER2":"ON"}', "POWER2") == (Power.ON, None)


@pytest.mark.parametrize("payload, kind", [
    (b'{"POWER":"ON","Dimmer":', "not JSON"),
    (b'{"POWER":"MAYBE"}', "POWER not ON/OFF"),
    (b'{"POWER":"ON","Dimmer":140}', "Dimmer not 0–100"),
    (b'"ON"', "not a JSON object"),
])
def test_malformed_answers_are_typed(payload, kind):
    with pytest.raises(ProtocolError) as error:
        parse_result(payload, "POWER")
    assert error.value.reason == kind
