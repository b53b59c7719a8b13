"""Tasmota relays and dimmers over MQTT.

From the Tasmota documentation ("MQTT", "Commands"), with the default FullTopic
``%prefix%/%topic%/``:
- ``cmnd/<topic>/POWER`` ``ON``/``OFF``/``TOGGLE``; ``cmnd/<topic>/Dimmer`` ``0..100``;
  an empty payload asks for the current value; ``cmnd/<topic>/STATE`` asks for the whole
  state, answered on ``stat/<topic>/RESULT``;
- ``stat/<topic>/RESULT`` — every command's JSON answer (``{"POWER":"ON","Dimmer":40}``);
  ``stat/<topic>/POWER`` — the bare ``ON``/``OFF`` after every power change;
- ``tele/<topic>/STATE`` — JSON telemetry every TelePeriod (300 s by default);
- ``tele/<topic>/LWT`` — retained ``Online`` on connect and ``Offline`` as the broker's
  last will: the device's availability.

Dimmer 0 switches the light off in Tasmota; roomctl's brightness 0 is "off" for every
light, so the two agree. Transitions are the device's own Fade/Speed settings; a
transition in a command is not sent.
"""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from drivers.capabilities import HasBrightness, HasPower, Power
from drivers.errors import ProtocolError
from drivers.mqtt_device import MqttDevice
from drivers.transports.base import Message

_TOPIC = r"^[^#+/\x00]+$"  # %topic%: one level, no wildcard


class TasmotaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(pattern=_TOPIC, max_length=100, description="the device's %topic%, e.g. hall-a-spots")
    relay: int | None = Field(None, ge=1, le=32, description="POWER<n> on multi-relay devices; none: POWER")


def power_key(relay: int | None) -> str:
    return "POWER" if relay is None else f"POWER{relay}"


def parse_lwt(payload: bytes) -> bool:
    if payload in (b"Online", b"Offline"):
        return payload == b"Online"
    raise ProtocolError("LWT not Online/Offline", payload)


def parse_power(text: str, payload: bytes) -> Power:
    if text in ("ON", "OFF"):
        return Power.ON if text == "ON" else Power.OFF
    raise ProtocolError("POWER not ON/OFF", payload)


def parse_result(payload: bytes, power: str) -> tuple[Power | None, int | None]:
    """A RESULT or tele STATE: the relay's power and the dimmer level, where present."""
    try:
        value = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("not JSON", payload) from None
    if not isinstance(value, dict):
        raise ProtocolError("not a JSON object", payload)
    state = parse_power(value[power], payload) if power in value else None
    dimmer = value.get("Dimmer")
    if dimmer is not None and (isinstance(dimmer, bool) or not isinstance(dimmer, int) or not 0 <= dimmer <= 100):
        raise ProtocolError("Dimmer not 0–100", payload)
    return state, dimmer


class TasmotaRelay(MqttDevice, HasPower):
    driver: ClassVar[str] = "tasmota_relay"
    Options: ClassVar = TasmotaOptions
    options: TasmotaOptions

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        t = self.options.topic
        self.power_key = power_key(self.options.relay)
        self.lwt_topic = f"tele/{t}/LWT"
        self.result_topic = f"stat/{t}/RESULT"
        self.power_topic = f"stat/{t}/{self.power_key}"
        self.tele_topic = f"tele/{t}/STATE"
        self.command_prefix = f"cmnd/{t}/"

    def topics(self) -> list[str]:
        return [self.lwt_topic, self.result_topic, self.power_topic, self.tele_topic]

    def handle(self, message: Message) -> bool:
        if message.topic == self.lwt_topic:
            self.set_available(parse_lwt(message.payload), "Tasmota reports it offline (LWT)")
            return False
        if message.topic == self.power_topic:
            self._set("power", parse_power(message.payload.decode("ascii", "replace"), message.payload))
            return True
        if message.topic in (self.result_topic, self.tele_topic):
            power, dimmer = parse_result(message.payload, self.power_key)
            if power is None and dimmer is None:
                return False  # the answer to some other command (a RESULT for Status, say)
            if power is not None:
                self._set("power", power)
            if dimmer is not None:
                self._set_dimmer(dimmer)
            return True
        return False

    def _set_dimmer(self, dimmer: int) -> None:
        """Relays have no dimmer; dimmers override."""

    async def request_report(self) -> None:
        await self.publish(self.command_prefix + "STATE", b"")

    async def command(self, name: str, value: str, confirmed, *, what: str) -> None:
        seen = self.stats.reports
        await self.confirm(self.command_prefix + name, value.encode(),
                           lambda: self.stats.reports > seen and confirmed(), what=what)

    async def set_power(self, on: bool) -> None:
        want = Power.ON if on else Power.OFF
        await self.command(self.power_key, "ON" if on else "OFF", lambda: self.state.get("power") == want,
                           what=f"{self.id} reporting {self.power_key} {want}")


class TasmotaDimmer(TasmotaRelay, HasBrightness):
    driver: ClassVar[str] = "tasmota_dimmer"

    def _set_dimmer(self, dimmer: int) -> None:
        self._set("brightness", dimmer)

    async def set_brightness(self, percent: int, *, transition: float | None = None) -> None:
        if percent == 0:
            await self.set_power(False)
            return
        await self.command(
            "Dimmer", str(percent),
            lambda: self.state.get("brightness") == percent and self.state.get("power") == Power.ON,
            what=f"{self.id} reporting Dimmer {percent}",
        )


__all__ = ["TasmotaDimmer", "TasmotaOptions", "TasmotaRelay", "parse_lwt", "parse_result"]
