"""Waiting for things in tests: for an event, with a timeout — never a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from drivers.status import Status

POLL = 0.01  # how often a condition is looked at; not a wait for the thing itself


async def wait_until(condition: Callable[[], object], *, within: float, what: str = "condition") -> float:
    """Wait until ``condition()`` is truthy; return how long it took. Fails after ``within`` s."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"{what} not reached within {within:g} s")
        await asyncio.sleep(POLL)


async def wait_for_status(supervisor, status: Status, *, within: float) -> float:
    """Wait until the supervisor reports ``status``; return the seconds it took."""
    return await wait_until(
        lambda: supervisor.status is status,
        within=within,
        what=f"{supervisor.device.id} {status} (is {supervisor.status}: {supervisor.reason})",
    )


class FakeClock:
    """A clock the test moves by hand: simulator physics jump instantly."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
