"""Video sources and displays: input selection, A/V mute, freeze, lamps, filter."""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from drivers.capabilities.base import Capability, Command, StateModel
from drivers.errors import InvalidCommand

# Input names are identifiers such as "hdmi1" or "digital1": short, no spaces.
InputName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class AVMute(StateModel):
    video: bool
    audio: bool


class Lamp(StateModel):
    hours: int
    on: bool


class HasInputs(Capability):
    name = "input"
    # input_signal / input_resolution: filled by devices that can tell (PJLink class 2 IRES)
    state_keys = ("input", "inputs", "input_signal", "input_resolution")

    @abstractmethod
    def available_inputs(self) -> tuple[str, ...]:
        """Input names this device accepts; empty until the device has told us."""

    @abstractmethod
    async def select_input(self, name: str) -> None: ...


class HasAVMute(Capability):
    name = "av_mute"
    state_keys = ("av_mute",)

    @abstractmethod
    async def set_av_mute(self, *, video: bool | None = None, audio: bool | None = None) -> None: ...


class HasFreeze(Capability):
    name = "freeze"
    state_keys = ("freeze",)

    @abstractmethod
    async def set_freeze(self, on: bool) -> None: ...


class HasLamps(Capability):
    name = "lamps"
    state_keys = ("lamps",)


class HasFilter(Capability):
    name = "filter"
    state_keys = ("filter_hours",)


class SelectInput(Command):
    type: Literal["input"] = "input"
    input: InputName
    capability: ClassVar = HasInputs

    def check(self, device: object) -> None:
        super().check(device)
        known = device.available_inputs()
        if known and self.input not in known:
            raise InvalidCommand(f"unknown input {self.input!r}; this device has {', '.join(known)}", field="input")

    async def apply(self, device: HasInputs) -> None:
        await device.select_input(self.input)


class SetAVMute(Command):
    type: Literal["av_mute"] = "av_mute"
    video: bool | None = None
    audio: bool | None = None
    capability: ClassVar = HasAVMute

    @model_validator(mode="after")
    def _something_to_set(self) -> "SetAVMute":
        if self.video is None and self.audio is None:
            raise ValueError("set video, audio or both")
        return self

    async def apply(self, device: HasAVMute) -> None:
        await device.set_av_mute(video=self.video, audio=self.audio)


class SetFreeze(Command):
    type: Literal["freeze"] = "freeze"
    on: bool
    capability: ClassVar = HasFreeze

    async def apply(self, device: HasFreeze) -> None:
        await device.set_freeze(self.on)
