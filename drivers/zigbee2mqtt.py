"""Zigbee2MQTT's MQTT API, the part every Zigbee device shares: topics, availability, reports.

From the Zigbee2MQTT documentation ("MQTT Topics and Messages", "Device availability"):
- ``<base>/<friendly_name>`` — the device's state, a JSON object (``{"state":"ON","brightness":215}``);
- ``<base>/<friendly_name>/set`` — commands, a JSON object of the keys to change;
- ``<base>/<friendly_name>/get`` — read-back, a JSON object of the keys to read, values ``""``;
- ``<base>/<friendly_name>/availability`` — retained, ``{"state":"online"|"offline"}``
  (Zigbee2MQTT 1.x with ``legacy_availability_payload`` sends the bare word instead);
- ``<base>/bridge/state`` — the bridge itself, retained, the same payloads, its last will
  ``offline``. When the bridge is offline no device behind it can be reached, whatever
  its own retained availability still says.

The codec is pure functions; ``Zigbee2MqttDevice`` is the device side every Zigbee
driver (drivers/lights, drivers/climate) builds on.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drivers.errors import ProtocolError
from drivers.mqtt_device import MqttDevice
from drivers.transports.base import Message

DEFAULT_BASE_TOPIC = "zigbee2mqtt"
# A friendly name may hold '/' (Zigbee2MQTT groups topics that way) but no wildcard.
_NAME = r"^[^#+\x00]+$"
_BASE = r"^[^#+\x00/][^#+\x00]*$"
# Suffixes that belong to the API: a device named so would shadow them.
_RESERVED_ENDS = ("/set", "/get", "/availability")


class Zigbee2MqttOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    friendly_name: str = Field(pattern=_NAME, max_length=200, description="The device's name in Zigbee2MQTT")
    base_topic: str = Field(DEFAULT_BASE_TOPIC, pattern=_BASE, max_length=100)

    @field_validator("friendly_name")
    @classmethod
    def _not_an_api_topic(cls, name: str) -> str:
        if name.endswith(_RESERVED_ENDS) or name == "bridge" or name.startswith("bridge/"):
            raise ValueError(f"friendly_name {name!r} collides with a Zigbee2MQTT API topic")
        return name


def state_topic(base: str, name: str) -> str:
    return f"{base}/{name}"


def set_topic(base: str, name: str) -> str:
    return f"{base}/{name}/set"


def get_topic(base: str, name: str) -> str:
    return f"{base}/{name}/get"


def availability_topic(base: str, name: str) -> str:
    return f"{base}/{name}/availability"


def bridge_state_topic(base: str) -> str:
    return f"{base}/bridge/state"


def parse_availability(payload: bytes) -> bool:
    """``{"state":"online"}`` → True; the legacy bare ``online``/``offline`` too."""
    text = _text(payload).strip()
    if text in ("online", "offline"):
        return text == "online"
    try:
        value = json.loads(text)
    except ValueError:
        raise ProtocolError("availability not JSON", payload) from None
    if isinstance(value, dict) and value.get("state") in ("online", "offline"):
        return value["state"] == "online"
    raise ProtocolError("availability not online/offline", payload)


def parse_report(payload: bytes) -> dict[str, Any]:
    """A device's state message: a JSON object, nothing else."""
    try:
        value = json.loads(_text(payload))
    except ValueError:
        raise ProtocolError("not JSON", payload) from None
    if not isinstance(value, dict):
        raise ProtocolError("not a JSON object", payload)
    return value


def encode(values: dict[str, Any]) -> bytes:
    return json.dumps(values, separators=(",", ":")).encode()


def number(report: dict[str, Any], key: str, low: float, high: float, payload: bytes) -> float | None:
    """``report[key]`` as a number in [low, high]; None when absent; ProtocolError when wrong."""
    if key not in report or report[key] is None:
        return None
    value = report[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{key} not a number", payload)
    if not low <= value <= high:
        raise ProtocolError(f"{key} out of range", payload)
    return value


def word(report: dict[str, Any], key: str, allowed: set[str], payload: bytes) -> str | None:
    if key not in report or report[key] is None:
        return None
    value = report[key]
    if not isinstance(value, str) or value not in allowed:
        raise ProtocolError(f"{key} not one of {', '.join(sorted(allowed))}", payload)
    return value


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("not UTF-8", payload) from None



# --- the device side every Zigbee2MQTT driver shares ------------------------------------


class Zigbee2MqttDevice(MqttDevice):
    """A device behind a Zigbee2MQTT bridge: its topics, its and the bridge's availability."""

    options: Zigbee2MqttOptions
    # The keys a read-back asks for (``/get`` with each key set to "").
    readback_keys: ClassVar[tuple[str, ...]] = ("state",)

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        base, name = self.options.base_topic, self.options.friendly_name
        self.state_topic = state_topic(base, name)
        self.set_topic = set_topic(base, name)
        self.get_topic = get_topic(base, name)
        self.availability_topic = availability_topic(base, name)
        self.bridge_topic = bridge_state_topic(base)
        self._device_online: bool | None = None  # None: not said (availability is off in Zigbee2MQTT by default)
        self._bridge_online: bool | None = None

    @abstractmethod
    def apply_report(self, report: dict[str, Any], payload: bytes) -> None:
        """Validate every key of a state report, then apply them (never half)."""

    def topics(self) -> list[str]:
        return [self.bridge_topic, self.availability_topic, self.state_topic]

    async def connect(self) -> None:
        self._device_online = self._bridge_online = None
        await super().connect()

    def handle(self, message: Message) -> bool:
        if message.topic == self.state_topic:
            self.apply_report(parse_report(message.payload), message.payload)
            return True
        if message.topic == self.availability_topic:
            self._device_online = parse_availability(message.payload)
        elif message.topic == self.bridge_topic:
            self._bridge_online = parse_availability(message.payload)
        else:
            return False
        if self._bridge_online is False:
            self.set_available(False, "the Zigbee2MQTT bridge is offline")
        else:
            self.set_available(self._device_online is not False, "Zigbee2MQTT reports it offline (availability)")
        return False

    async def request_report(self) -> None:
        await self.publish(self.get_topic, encode({key: "" for key in self.readback_keys}))

    async def send(self, values: dict[str, Any], confirmed: Callable[[], bool], *, what: str) -> None:
        """``/set`` the values and wait for a fresh report in which ``confirmed()`` holds."""
        seen = self.stats.reports
        await self.confirm(self.set_topic, encode(values), lambda: self.stats.reports > seen and confirmed(), what=what)
