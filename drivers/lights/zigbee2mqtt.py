"""A Zigbee light through Zigbee2MQTT: on/off, brightness, colour temperature, transition.

Wire units (Zigbee2MQTT device pages, "Exposes: light"): ``state`` ``ON``/``OFF``,
``brightness`` 0–254, ``color_temp`` in mireds, ``transition`` in seconds. roomctl's
units are percent and kelvin (drivers.capabilities.lighting); the conversion lives here
and only here. Percent → raw → percent is exact for every whole percent, because a
percent is 2.54 raw steps.

Brightness 0 is "off" (Zigbee2MQTT turns a light off at brightness 0); the light keeps
its last level for the next "on", as the lamps themselves do.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from drivers.capabilities import HasBrightness, HasColorTemperature, HasPower, Power
from drivers.errors import Unsupported
from drivers.zigbee2mqtt import Zigbee2MqttDevice, Zigbee2MqttOptions, number, word

RAW_MAX = 254  # Zigbee level: 0–254 (255 is "invalid" in the ZCL level cluster)
MIRED_LIMITS = (50, 1000)  # anything outside is a corrupted report, not a lamp


def percent_to_raw(percent: int) -> int:
    return round(percent * RAW_MAX / 100)


def raw_to_percent(raw: float) -> int:
    return round(raw * 100 / RAW_MAX)


def kelvin_to_mired(kelvin: int) -> int:
    return round(1_000_000 / kelvin)


def mired_to_kelvin(mired: float) -> int:
    return round(1_000_000 / mired)


class Zigbee2MqttLightOptions(Zigbee2MqttOptions):
    # Most tunable-white lamps span 153–454 or 153–500 mireds; null: no colour temperature.
    color_temp_mired: tuple[int, int] | None = Field(
        (153, 500), description="coolest and warmest colour temperature in mireds, or null"
    )


class Zigbee2MqttLight(Zigbee2MqttDevice, HasPower, HasBrightness, HasColorTemperature):
    driver: ClassVar[str] = "z2m_light"
    Options: ClassVar = Zigbee2MqttLightOptions
    options: Zigbee2MqttLightOptions
    readback_keys: ClassVar[tuple[str, ...]] = ("state", "brightness", "color_temp")

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        self.raw: dict[str, float] = {}  # the last reported wire values, for exact confirmation

    # --- codec: a report, validated whole before anything is applied ---------------

    def apply_report(self, report: dict[str, Any], payload: bytes) -> None:
        power = word(report, "state", {"ON", "OFF"}, payload)
        brightness = number(report, "brightness", 0, RAW_MAX, payload)
        mired = number(report, "color_temp", *MIRED_LIMITS, payload)
        if power is not None:
            self._set("power", Power.ON if power == "ON" else Power.OFF)
        if brightness is not None:
            self.raw["brightness"] = brightness
            self._set("brightness", raw_to_percent(brightness))
        if mired is not None:
            self.raw["color_temp"] = mired
            self._set("color_temp_kelvin", mired_to_kelvin(mired))

    # --- capabilities ---------------------------------------------------------------

    def color_temp_range(self) -> tuple[int, int]:
        if self.options.color_temp_mired is None:
            raise Unsupported(f"{self.id} has no colour temperature", field="kelvin")
        coolest, warmest = sorted(self.options.color_temp_mired)
        return mired_to_kelvin(warmest), mired_to_kelvin(coolest)

    async def set_power(self, on: bool) -> None:
        want = Power.ON if on else Power.OFF
        await self.send({"state": "ON" if on else "OFF"}, lambda: self.state.get("power") == want,
                        what=f"{self.id} reporting power {want}")

    async def set_brightness(self, percent: int, *, transition: float | None = None) -> None:
        values: dict[str, Any] = {"state": "OFF"} if percent == 0 else {"brightness": percent_to_raw(percent)}
        if transition is not None:
            values["transition"] = transition
        if percent == 0:
            await self.send(values, lambda: self.state.get("power") == Power.OFF, what=f"{self.id} reporting off")
            return
        raw = values["brightness"]
        await self.send(
            values,
            lambda: self.raw.get("brightness") == raw and self.state.get("power") == Power.ON,
            what=f"{self.id} reporting brightness {raw}/254",
        )

    async def set_color_temperature(self, kelvin: int, *, transition: float | None = None) -> None:
        mired = kelvin_to_mired(kelvin)
        values: dict[str, Any] = {"color_temp": mired}
        if transition is not None:
            values["transition"] = transition
        await self.send(values, lambda: self.raw.get("color_temp") == mired, what=f"{self.id} reporting {mired} mired")
