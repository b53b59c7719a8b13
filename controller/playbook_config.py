"""Fault playbooks (预案) as data: what a room's config declares under ``playbooks:``.

A playbook belongs to a fault kind (``device-offline``, ``projector-lamp``...). Its steps
are automatic remedies first (``remedy: retry``), then technician steps that wait for a
confirmation (``confirm: "Close the lamp cover"``, with a timeout); when the fault is
still there at the end, the run escalates. Every kind has a built-in playbook (see
``controller.playbooks.DEFAULT_PLAYBOOKS``); a room's ``kinds:`` entry replaces the
built-in one of the same id, or declares a kind of its own.

The room's audio wiring that the spare-mic remedy needs (its spares, which receiver
channel feeds which mixer input) is the room's ``audio:`` section.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from controller.scene_config import AnyCommand
from drivers.capabilities import InputName

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

# A technician is there or is not: five minutes is long enough to walk to the room and
# look; a step nobody answers by then escalates rather than keep the meeting waiting.
CONFIRM_TIMEOUT = 300.0
# The project office's endpoint is on the LAN or a hosted service: it answers in seconds.
WEBHOOK_TIMEOUT = 5.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def bilingual(value: Any) -> Any:
    """A message in the report's two languages; a plain string serves both."""
    if isinstance(value, str):
        return {"en": value, "zh": value}
    return value


class Text(_Model):
    en: str = Field(min_length=1, max_length=500)
    zh: str = Field(min_length=1, max_length=500)


class RemedyStep(_Model):
    remedy: Literal["retry", "reconnect", "power_cycle", "switch_input", "spare_mic", "reduce_level", "setpoint",
                    "command"] = Field(description="What roomctl does by itself")
    device: str | None = Field(None, description="Device id in this room; default: the device with the fault")
    input: InputName | None = Field(None, description="switch_input: the input; default: the room's fallback_inputs")
    command: AnyCommand | None = Field(None, description="command: a typed command, e.g. {type: scene, scene: 1}")
    within: float | None = Field(None, gt=0, le=3600,
                                 description="Seconds (real time) to wait for the fault to clear; default per remedy")

    @model_validator(mode="after")
    def _fields_fit_remedy(self) -> "RemedyStep":
        if self.remedy == "command" and self.command is None:
            raise ValueError("remedy: command needs a command")
        if self.remedy != "command" and self.command is not None:
            raise ValueError(f"remedy: {self.remedy} takes no command")
        if self.remedy == "command" and self.device is None:
            raise ValueError("remedy: command needs a device")
        if self.input is not None and self.remedy != "switch_input":
            raise ValueError(f"remedy: {self.remedy} takes no input")
        return self


class ConfirmStep(_Model):
    confirm: Text = Field(description="What the technician must do; {device}, {mic} and {spare} are filled in")
    timeout: float | None = Field(None, gt=0, le=24 * 3600,
                                  description="Seconds (real time) to wait for an answer; default: confirm_timeout")

    @field_validator("confirm", mode="before")
    @classmethod
    def _both_languages(cls, value: Any) -> Any:
        return bilingual(value)


def _step_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        return "ConfirmStep" if "confirm" in value else "RemedyStep"
    return None


PlaybookStep = Annotated[
    Union[Annotated[RemedyStep, Tag("RemedyStep")], Annotated[ConfirmStep, Tag("ConfirmStep")]],
    Discriminator(_step_kind),
]


class PlaybookConfig(_Model):
    title: Text = Field(description="What the fault is called: 'Projector lamp failure'")
    steps: list[PlaybookStep] = Field(min_length=1)
    escalate: bool = Field(True, description="Alert the project office when the steps did not clear the fault")
    alternate_room: bool = Field(True, description="Suggest an alternate room when escalating")

    @field_validator("title", mode="before")
    @classmethod
    def _both_languages(cls, value: Any) -> Any:
        return bilingual(value)


class PlaybooksConfig(_Model):
    kinds: dict[Annotated[str, Field(pattern=ID_PATTERN)], PlaybookConfig] = Field(
        default_factory=dict, description="Playbooks by fault kind; replaces the built-in one of the same id")
    confirm_timeout: float = Field(CONFIRM_TIMEOUT, gt=0, le=24 * 3600,
                                   description="Seconds a technician step waits for its confirmation")
    webhook: str | None = Field(None, description="The project office's URL: escalations are POSTed there as JSON")
    webhook_timeout: float = Field(WEBHOOK_TIMEOUT, gt=0, le=60)
    fallback_inputs: dict[str, InputName] = Field(
        default_factory=dict, description="Input to switch a display to when its input has no signal: {proj: hdmi2}")

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


def check_playbooks(room, devices: dict[str, type]) -> None:
    """A playbook or wiring that names a missing device or capability is a config error.

    ``devices`` maps this room's device ids to their driver classes. Raises ValueError
    with the place (``playbooks.kinds['projector-lamp'].steps[1]``) in its message.
    """
    from drivers.capabilities import HasFaders, HasGain, HasInputs, HasPower, HasSetpoint, HasWirelessChannels

    config: PlaybooksConfig = room.playbooks

    def need(where: str, device_id: str, *capabilities: type) -> None:
        if device_id not in devices:
            raise ValueError(f"{where}: no device {device_id!r} in room {room.id}")
        driver = devices[device_id]
        if capabilities and not any(issubclass(driver, cap) for cap in capabilities):
            names = " or ".join(cap.name for cap in capabilities)
            raise ValueError(f"{where}: {device_id} ({driver.driver}) has no {names} capability")

    for device_id in config.fallback_inputs:
        need(f"playbooks.fallback_inputs.{device_id}", device_id, HasInputs)
    needs = {"power_cycle": (HasPower,), "switch_input": (HasInputs,), "spare_mic": (HasWirelessChannels,),
             "reduce_level": (HasFaders, HasGain), "setpoint": (HasSetpoint,)}
    for kind, playbook in config.kinds.items():
        for s, step in enumerate(playbook.steps):
            where = f"playbooks.kinds[{kind!r}].steps[{s}]"  # as config errors write odd keys
            if not isinstance(step, RemedyStep):
                continue
            if step.remedy == "spare_mic" and not any(mic.spare for mic in room.audio.mics):
                raise ValueError(f"{where}: spare_mic needs a spare in audio.mics (spare: true)")
            if step.device is None:
                continue
            if step.remedy == "command":
                need(where, step.device, step.command.capability)
            else:
                need(where, step.device, *needs.get(step.remedy, ()))
