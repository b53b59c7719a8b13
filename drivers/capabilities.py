"""What a device can do, declared as capability interfaces.

Self-test checks, scenes and pages are written against these, never against a model:
``isinstance(device, HasLamps)``. Each capability names the state keys it fills in and
the methods a driver implements; the state values are the typed models below.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Power(StrEnum):
    OFF = "off"
    WARMING_UP = "warming_up"
    ON = "on"
    COOLING_DOWN = "cooling_down"
    ABNORMAL_STANDBY = "abnormal_standby"  # switched itself off after a fault (ESC/VP21 05)
    UNKNOWN = "unknown"


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class _State(BaseModel):
    model_config = ConfigDict(frozen=True)


class AVMute(_State):
    video: bool
    audio: bool


class Lamp(_State):
    hours: int
    on: bool


class ErrorStatus(_State):
    """Per-component health as projectors report it (PJLink ERST order)."""

    fan: Level = Level.OK
    lamp: Level = Level.OK
    temperature: Level = Level.OK
    cover: Level = Level.OK
    filter: Level = Level.OK
    other: Level = Level.OK

    def worst(self) -> Level:
        levels = {self.fan, self.lamp, self.temperature, self.cover, self.filter, self.other}
        return Level.ERROR if Level.ERROR in levels else Level.WARNING if Level.WARNING in levels else Level.OK

    def problems(self) -> dict[str, Level]:
        return {name: level for name, level in self if level is not Level.OK}


class Identity(_State):
    manufacturer: str | None = None
    model: str | None = None
    name: str | None = None
    serial_number: str | None = None
    firmware: str | None = None
    protocol: str | None = None  # e.g. "PJLink class 2"
    other: str | None = None


class Capability(ABC):
    """Marker base: every capability lists the state keys it owns."""

    state_keys: ClassVar[tuple[str, ...]] = ()


class HasPower(Capability):
    state_keys = ("power",)

    @abstractmethod
    async def set_power(self, on: bool) -> None: ...


class HasInputs(Capability):
    state_keys = ("input", "inputs")

    @abstractmethod
    def available_inputs(self) -> tuple[str, ...]:
        """Input names this device accepts; empty until the device has told us."""

    @abstractmethod
    async def select_input(self, name: str) -> None: ...


class HasAVMute(Capability):
    state_keys = ("av_mute",)

    @abstractmethod
    async def set_av_mute(self, *, video: bool | None = None, audio: bool | None = None) -> None: ...


class HasFreeze(Capability):
    state_keys = ("freeze",)

    @abstractmethod
    async def set_freeze(self, on: bool) -> None: ...


class HasLamps(Capability):
    state_keys = ("lamps",)


class HasFilter(Capability):
    state_keys = ("filter_hours",)


class HasErrorStatus(Capability):
    state_keys = ("errors",)


class HasIdentity(Capability):
    state_keys = ("identity",)


ALL_CAPABILITIES: dict[str, type[Capability]] = {
    "power": HasPower,
    "input": HasInputs,
    "av_mute": HasAVMute,
    "freeze": HasFreeze,
    "lamps": HasLamps,
    "filter": HasFilter,
    "errors": HasErrorStatus,
    "identity": HasIdentity,
}


def capability_names(device: object) -> list[str]:
    return [name for name, cap in ALL_CAPABILITIES.items() if isinstance(device, cap)]
