"""The check contract: what a check declares, what it returns, in two languages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from drivers.capabilities import Capability


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"          # ready, but the technician should know (lamp near end of life)
    FAIL = "fail"          # not ready
    NOT_DONE = "not_done"  # could not be judged here (a speak test with nobody to speak)


def text(en: str, zh: str) -> dict[str, str]:
    """A message in both of the report's languages."""
    return {"en": en, "zh": zh}


@dataclass
class Outcome:
    verdict: Verdict
    subject: str | None = None  # what within the device: "Mic 2 — Chair"; None: the device itself
    measured: str | None = None  # what was seen, e.g. "3120 h"
    problem: dict[str, str] | None = None  # what is wrong
    advice: dict[str, str] | None = None  # what the technician should do next
    tried: list[dict[str, str]] = field(default_factory=list)  # remedies roomctl already attempted
    playbook: str | None = None  # the fault playbook that covers this failure


@dataclass(frozen=True)
class PromptRequest:
    """Something the technician is asked to do or confirm."""

    kind: str  # "speak" (talk into a mic), "confirm"
    message: dict[str, str]
    room: str
    device: str | None = None
    channel: int | None = None
    within: float = 15.0  # seconds the answer may take


@dataclass
class CheckContext:
    """What a check may use: the device, the room's settings, the meeting, ways to act."""

    room: str
    device_id: str
    runtime: Any  # controller.site.DeviceRuntime
    thresholds: Any  # controller.selftest_config.Thresholds
    meeting_minutes: float  # what is left of the meeting the room must last through
    attended: bool  # someone (a technician, or the demo's simulated one) answers prompts
    prompt: Callable[[PromptRequest], Awaitable[bool]]  # False when nobody answers
    execute: Callable[[Any], Awaitable[None]]  # send a typed command through the supervisor
    room_config: Any = None  # controller.config.RoomConfig
    site: Any = None  # controller.site.Site, for checks that look at two devices (speak test)

    @property
    def device(self):
        return self.runtime.device

    @property
    def label(self) -> str:
        return self.runtime.config.name or self.device_id


@dataclass(frozen=True)
class Check:
    id: str
    capability: type[Capability] | None  # None: every device
    title: dict[str, str]
    run: Callable[[CheckContext], Awaitable[Outcome | list[Outcome]]]
    order: int = 50  # power and reachability first, so later checks see a powered device


CHECKS: list[Check] = []


def check(id: str, *, capability: type[Capability] | None, title: dict[str, str], order: int = 50):
    """Register a check function: ``@check("lamp_hours", capability=HasLamps, title=text(...))``."""

    def register(fn: Callable[[CheckContext], Awaitable[Outcome | list[Outcome]]]):
        if any(c.id == id for c in CHECKS):
            raise ValueError(f"two self-test checks named {id!r}")
        CHECKS.append(Check(id=id, capability=capability, title=title, run=fn, order=order))
        CHECKS.sort(key=lambda c: c.order)
        return fn

    return register
