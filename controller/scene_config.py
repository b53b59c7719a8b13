"""Scenes as data: what a room's config declares under ``scenes:``.

A scene is a list of steps run in order; a ``parallel`` step runs its steps together.
A step sends a typed command to a device, waits for a device's state, or pauses.
Commands are validated by the same command models the API uses, and checked at
config load against the capabilities of the device's driver.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from drivers.commands import command_type

# Every capability module is imported by drivers.capabilities, so the union is complete.
AnyCommand = command_type()

# How long a step may take by default. Projectors warm up in 30-60 s, so waits for
# "power on" need their own, longer timeout in the config.
STEP_TIMEOUT = 10.0


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommandStep(_Step):
    device: str = Field(description="Device id in this room")
    command: AnyCommand = Field(description="A typed command, e.g. {type: power, on: true}")
    timeout: float = Field(STEP_TIMEOUT, gt=0, le=600)
    on_failure: str = Field(
        "stop", description="stop the scene, continue with the next step, or `playbook:NAME` to ask for one"
    )

    @model_validator(mode="after")
    def _valid_policy(self) -> "CommandStep":
        _check_on_failure(self.on_failure)
        return self


class WaitCondition(_Step):
    device: str
    state: str = Field(description="State key, e.g. power")
    equals: Any = Field(description="The value to wait for, as the API shows it, e.g. on")


class WaitStep(_Step):
    wait: WaitCondition
    timeout: float = Field(STEP_TIMEOUT, gt=0, le=3600)
    on_failure: str = "stop"

    @model_validator(mode="after")
    def _valid_policy(self) -> "WaitStep":
        _check_on_failure(self.on_failure)
        return self


class DelayStep(_Step):
    delay: float = Field(gt=0, le=600, description="Seconds to pause (real time)")


def _step_kind(value: Any) -> str | None:
    """Which kind of step a mapping is, by its key: the error then names that kind only."""
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        for key, kind in (("parallel", "ParallelStep"), ("wait", "WaitStep"), ("delay", "DelayStep")):
            if key in value:
                return kind
        return "CommandStep"
    return None


LeafStep = Annotated[
    Union[Annotated[CommandStep, Tag("CommandStep")], Annotated[WaitStep, Tag("WaitStep")],
          Annotated[DelayStep, Tag("DelayStep")]],
    Discriminator(_step_kind),
]


class ParallelStep(_Step):
    parallel: list[LeafStep] = Field(min_length=1)


Step = Annotated[
    Union[Annotated[ParallelStep, Tag("ParallelStep")], Annotated[CommandStep, Tag("CommandStep")],
          Annotated[WaitStep, Tag("WaitStep")], Annotated[DelayStep, Tag("DelayStep")]],
    Discriminator(_step_kind),
]


class SceneConfig(_Step):
    name: str | None = Field(None, description="What the tablet shows, e.g. Presentation")
    steps: list[Step] = Field(min_length=1)


def _check_on_failure(value: str) -> None:
    if value in ("stop", "continue"):
        return
    if not value.startswith("playbook:") or not value[len("playbook:"):].strip():
        raise ValueError("on_failure is stop, continue or playbook:NAME")


def leaf_steps(scene: SceneConfig):
    """Every command and wait step with its place, for validation against devices."""
    for i, step in enumerate(scene.steps):
        if isinstance(step, ParallelStep):
            for j, leaf in enumerate(step.parallel):
                yield ("steps", i, "parallel", j), leaf
        else:
            yield ("steps", i), step
