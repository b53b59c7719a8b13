"""Climate: room temperature, setpoint, HVAC mode and what the unit is doing, fan speed, alarms.

Temperatures are °C everywhere above the drivers. Mode names are roomctl's own
(``fan`` rather than Zigbee2MQTT's ``fan_only``); each driver maps its device's words.
"""

from __future__ import annotations

from abc import abstractmethod
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from drivers.capabilities.base import Capability, Command, StateModel
from drivers.errors import InvalidCommand


class HvacMode(StrEnum):
    OFF = "off"
    HEAT = "heat"
    COOL = "cool"
    AUTO = "auto"
    FAN = "fan"  # ventilation only
    DRY = "dry"


class HvacAction(StrEnum):
    """What the unit is doing right now (Zigbee2MQTT ``running_state``)."""

    IDLE = "idle"
    HEATING = "heating"
    COOLING = "cooling"
    FAN = "fan"
    OFF = "off"


class FanSpeed(StrEnum):
    AUTO = "auto"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class SetpointRange(StateModel):
    minimum: float
    maximum: float
    step: float = 0.5


class Alarm(StateModel):
    """An alarm a climate unit reports; ``code`` 0 is none."""

    code: int
    description: str | None = None

    @property
    def active(self) -> bool:
        return self.code != 0


class HasTemperature(Capability):
    """The room temperature as the unit measures it."""

    name = "temperature"
    state_keys = ("temperature",)


class HasSetpoint(Capability):
    name = "setpoint"
    state_keys = ("setpoint",)

    @abstractmethod
    def setpoint_range(self) -> SetpointRange: ...

    @abstractmethod
    async def set_setpoint(self, celsius: float) -> None:
        """Set the target temperature and return once the unit reports it."""


class HasHvacMode(Capability):
    name = "hvac_mode"
    state_keys = ("hvac_mode", "hvac_action")

    @abstractmethod
    def hvac_modes(self) -> tuple[HvacMode, ...]:
        """The modes this unit accepts."""

    @abstractmethod
    async def set_hvac_mode(self, mode: HvacMode) -> None: ...


class HasFanSpeed(Capability):
    name = "fan_speed"
    state_keys = ("fan_speed",)

    @abstractmethod
    async def set_fan_speed(self, speed: FanSpeed) -> None: ...


class HasAlarms(Capability):
    name = "alarms"
    state_keys = ("alarm",)


class SetSetpoint(Command):
    type: Literal["setpoint"] = "setpoint"
    celsius: float = Field(ge=-10, le=50, description="target room temperature in °C")
    capability: ClassVar = HasSetpoint

    def check(self, device: object) -> None:
        super().check(device)
        allowed = device.setpoint_range()
        if not allowed.minimum <= self.celsius <= allowed.maximum:
            raise InvalidCommand(
                f"{self.celsius:g} °C is outside this unit's {allowed.minimum:g}–{allowed.maximum:g} °C", field="celsius"
            )
        steps = (self.celsius - allowed.minimum) / allowed.step
        if abs(steps - round(steps)) > 1e-6:
            raise InvalidCommand(f"this unit sets temperatures in steps of {allowed.step:g} °C", field="celsius")

    async def apply(self, device: HasSetpoint) -> None:
        await device.set_setpoint(self.celsius)


class SetHvacMode(Command):
    type: Literal["hvac_mode"] = "hvac_mode"
    mode: HvacMode
    capability: ClassVar = HasHvacMode

    def check(self, device: object) -> None:
        super().check(device)
        modes = device.hvac_modes()
        if self.mode not in modes:
            raise InvalidCommand(
                f"this unit has no {self.mode} mode; it has {', '.join(m.value for m in modes)}", field="mode"
            )

    async def apply(self, device: HasHvacMode) -> None:
        await device.set_hvac_mode(self.mode)


class SetFanSpeed(Command):
    type: Literal["fan_speed"] = "fan_speed"
    speed: FanSpeed
    capability: ClassVar = HasFanSpeed

    async def apply(self, device: HasFanSpeed) -> None:
        await device.set_fan_speed(self.speed)
