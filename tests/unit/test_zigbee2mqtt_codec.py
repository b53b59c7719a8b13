"""Zigbee2MQTT payloads as its documentation shows them, parsed into roomctl's units."""

import pytest

from drivers import zigbee2mqtt as z2m
from drivers.errors import ProtocolError
from drivers.lights.zigbee2mqtt import kelvin_to_mired, mired_to_kelvin, percent_to_raw, raw_to_percent

# (payload, availability) — Zigbee2MQTT ≥ 1.17 JSON, and the legacy bare words.
AVAILABILITY = [
    (b'{"state":"online"}', True),
    (b'{"state":"offline"}', False),
    (b"online", True),
    (b"offline", False),
]


@pytest.mark.parametrize("payload, online", AVAILABILITY)
def test_availability_payloads(payload, online):
    assert z2m.parse_availability(payload) is online


@pytest.mark.parametrize("payload, kind", [
    (b"maybe", "availability not JSON"),
    (b'{"state":"sleeping"}', "availability not online/offline"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_availability_that_is_neither_is_a_protocol_error(payload, kind):
    with pytest.raises(ProtocolError) as error:
        z2m.parse_availability(payload)
    assert error.value.reason == kind


def test_a_state_report_from_the_docs():
    # "IKEA TRADFRI LED bulb E27 980 lumen" in "MQTT Topics and Messages"
    assert z2m.parse_report(b'{"state": "ON", "brightness": 215, "color_temp": 325}') == {
        "state": "ON", "brightness": 215, "color_temp": 325}


@pytest.mark.parametrize("payload, kind", [
    (b'{"state":"ON","brightness":', "not JSON"),
    (b'["ON"]', "not a JSON object"),
    (b"ON", "not JSON"),
])
def test_malformed_reports_are_typed_by_kind(payload, kind):
    with pytest.raises(ProtocolError) as error:
        z2m.parse_report(payload)
    assert error.value.reason == kind and error.value.frame == payload


def test_topics_follow_the_base_topic_and_friendly_name():
    assert z2m.state_topic("zigbee2mqtt", "kitchen/floor_light") == "zigbee2mqtt/kitchen/floor_light"
    assert z2m.set_topic("zigbee2mqtt", "lamp") == "zigbee2mqtt/lamp/set"
    assert z2m.get_topic("zigbee2mqtt", "lamp") == "zigbee2mqtt/lamp/get"
    assert z2m.availability_topic("zigbee2mqtt", "lamp") == "zigbee2mqtt/lamp/availability"
    assert z2m.bridge_state_topic("zigbee2mqtt") == "zigbee2mqtt/bridge/state"


@pytest.mark.parametrize("name", ["a/set", "bridge", "x/availability", "bad#name", "bad+name"])
def test_friendly_names_that_would_break_topics_are_config_errors(name):
    with pytest.raises(ValueError):
        z2m.Zigbee2MqttOptions(friendly_name=name)


def test_every_whole_percent_survives_the_trip_through_0_254():
    assert [raw_to_percent(percent_to_raw(p)) for p in range(101)] == list(range(101))
    assert (percent_to_raw(0), percent_to_raw(50), percent_to_raw(100)) == (0, 127, 254)


def test_kelvin_and_mireds():
    assert kelvin_to_mired(2700) == 370 and kelvin_to_mired(6500) == 154
    assert mired_to_kelvin(153) == 6536 and mired_to_kelvin(500) == 2000


def test_encode_is_compact_json():
    assert z2m.encode({"state": "ON", "brightness": 127}) == b'{"state":"ON","brightness":127}'
