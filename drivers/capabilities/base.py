"""The capability contract: interfaces, their typed state, and the commands that act on them.

A capability module holds, for one thing a device can do, the interface drivers
implement (``HasPower``), the typed state values it fills in (``Power``) and the
commands that act on it (``SetPower``). Self-test checks, scenes and pages are written
against capabilities, never against a model: ``isinstance(device, HasPower)``.

Capabilities and commands register themselves by subclassing; a new family of them
is one new module imported by this package's ``__init__``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from drivers.errors import Unsupported

_CAPABILITIES: dict[str, type["Capability"]] = {}
_COMMANDS: dict[str, type["Command"]] = {}


class StateModel(BaseModel):
    """A typed state value: immutable, so a change is always a new value the bus can compare."""

    model_config = ConfigDict(frozen=True)


class Capability(ABC):
    """Base of every capability interface; ``name`` is how APIs and configs call it."""

    name: ClassVar[str]
    state_keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _CAPABILITIES[cls.name] = cls


def capabilities() -> dict[str, type[Capability]]:
    return dict(_CAPABILITIES)


def capability_names(device: object) -> list[str]:
    return [name for name, cap in _CAPABILITIES.items() if isinstance(device, cap)]


class Command(BaseModel):
    """A typed, validated request for a device to act.

    Subclasses declare ``type: Literal["..."]`` (the JSON tag), the ``capability`` the
    device must have, extra checks against the device in ``check`` and the call in
    ``apply``. Nothing a request carries reaches a device except through these fields.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    capability: ClassVar[type[Capability]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("type")
        if field is not None and isinstance(field.default, str) and "capability" in cls.__dict__:
            existing = _COMMANDS.get(field.default)
            if existing is not None and existing.__qualname__ != cls.__qualname__:
                raise TypeError(f"two commands of type {field.default!r}: {existing.__qualname__} and {cls.__qualname__}")
            _COMMANDS[field.default] = cls

    def check(self, device: object) -> None:
        """Refuse, before anything is encoded, what this device cannot do."""
        if not isinstance(device, self.capability):
            raise Unsupported(f"this device has no {self.capability.name} capability", field="type")

    @abstractmethod
    async def apply(self, device: Any) -> None: ...


def commands() -> dict[str, type[Command]]:
    return dict(_COMMANDS)


# --- capabilities every kind of device may have ----------------------------------------


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class Power(StrEnum):
    OFF = "off"
    WARMING_UP = "warming_up"
    ON = "on"
    COOLING_DOWN = "cooling_down"
    ABNORMAL_STANDBY = "abnormal_standby"  # switched itself off after a fault (ESC/VP21 05)
    UNKNOWN = "unknown"


class HasPower(Capability):
    name = "power"
    state_keys = ("power",)

    @abstractmethod
    async def set_power(self, on: bool) -> None: ...


class Identity(StateModel):
    manufacturer: str | None = None
    model: str | None = None
    name: str | None = None
    serial_number: str | None = None
    firmware: str | None = None
    protocol: str | None = None  # e.g. "PJLink class 2"
    other: str | None = None


class HasIdentity(Capability):
    """Read from the device itself, for the equipment archive."""

    name = "identity"
    state_keys = ("identity",)


class ErrorStatus(StateModel):
    """Per-component health as devices report it (PJLink ERST order)."""

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


class HasErrorStatus(Capability):
    name = "errors"
    state_keys = ("errors",)


class SetPower(Command):
    type: Literal["power"] = "power"
    on: bool
    capability: ClassVar = HasPower

    async def apply(self, device: HasPower) -> None:
        await device.set_power(self.on)

