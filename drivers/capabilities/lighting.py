"""Lights: brightness and colour temperature (on/off is the generic power capability).

Units are fixed here, once, for every light whatever its wire: brightness in percent
0–100 (Zigbee's 0–254 and Tasmota's 0–100 are the drivers' business) and colour
temperature in kelvin (Zigbee2MQTT's mireds likewise). A transition is in seconds.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, Literal

from pydantic import Field

from drivers.capabilities.base import Capability, Command
from drivers.errors import InvalidCommand

# A fade longer than five minutes is a mistake in a scene, not a lighting design.
MAX_TRANSITION = 300.0


class HasBrightness(Capability):
    name = "brightness"
    state_keys = ("brightness",)

    @abstractmethod
    async def set_brightness(self, percent: int, *, transition: float | None = None) -> None:
        """Dim to ``percent`` (0–100) and return once the light reports it."""


class HasColorTemperature(Capability):
    name = "color_temperature"
    state_keys = ("color_temp_kelvin",)

    @abstractmethod
    def color_temp_range(self) -> tuple[int, int]:
        """Warmest and coolest kelvin this light can show."""

    @abstractmethod
    async def set_color_temperature(self, kelvin: int, *, transition: float | None = None) -> None: ...


class SetBrightness(Command):
    type: Literal["brightness"] = "brightness"
    percent: int = Field(ge=0, le=100, description="0 (dark) to 100 (full)")
    transition: float | None = Field(None, ge=0, le=MAX_TRANSITION, description="seconds to fade over")
    capability: ClassVar = HasBrightness

    async def apply(self, device: HasBrightness) -> None:
        await device.set_brightness(self.percent, transition=self.transition)


class SetColorTemperature(Command):
    type: Literal["color_temperature"] = "color_temperature"
    kelvin: int = Field(ge=1000, le=10000, description="2700 warm white … 6500 daylight")
    transition: float | None = Field(None, ge=0, le=MAX_TRANSITION)
    capability: ClassVar = HasColorTemperature

    def check(self, device: object) -> None:
        super().check(device)
        warmest, coolest = device.color_temp_range()
        if not warmest <= self.kelvin <= coolest:
            raise InvalidCommand(f"{self.kelvin} K is outside this light's {warmest}–{coolest} K", field="kelvin")

    async def apply(self, device: HasColorTemperature) -> None:
        await device.set_color_temperature(self.kelvin, transition=self.transition)
