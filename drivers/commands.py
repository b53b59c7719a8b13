"""Typed commands: the only way anything asks a device to act.

A command arrives as JSON (API, scene, playbook, MQTT), is validated here into one of
these models, checked against the device's capabilities, and only then reaches the
driver, which encodes it. Nothing carried by a request reaches a device as raw bytes.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from drivers.capabilities import Capability, HasAVMute, HasFreeze, HasInputs, HasPower
from drivers.errors import InvalidCommand, Unsupported

# Input names are identifiers such as "hdmi1" or "digital1": short, no spaces.
InputName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    capability: ClassVar[type[Capability]]

    def check(self, device: object) -> None:
        if not isinstance(device, self.capability):
            raise Unsupported(f"this device has no {self.type} capability", field="type")

    async def apply(self, device) -> None:  # pragma: no cover - every command overrides
        raise Unsupported(f"{self.type} cannot be applied")


class SetPower(_Command):
    type: Literal["power"] = "power"
    on: bool
    capability: ClassVar = HasPower

    async def apply(self, device: HasPower) -> None:
        await device.set_power(self.on)


class SelectInput(_Command):
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


class SetAVMute(_Command):
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


class SetFreeze(_Command):
    type: Literal["freeze"] = "freeze"
    on: bool
    capability: ClassVar = HasFreeze

    async def apply(self, device: HasFreeze) -> None:
        await device.set_freeze(self.on)


Command = Annotated[Union[SetPower, SelectInput, SetAVMute, SetFreeze], Field(discriminator="type")]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


def parse_command(payload: object) -> Command:
    """Validate a JSON-shaped command; pydantic's ValidationError carries the places."""
    return COMMAND_ADAPTER.validate_python(payload)
