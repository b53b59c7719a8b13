"""What the audio driver tests share: a simulator on 127.0.0.1 with the driver on a
transport to it, under a supervisor and online — and all of it stopped on the way out.

    async with device_room(sim, lambda host, port: Driver("id", Transport(host, port)), poll_interval=0.2) as room:
        await room.execute({"type": "gain", "channel": 1, "db": 6})
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from drivers.commands import parse_command
from drivers.device import Device
from drivers.status import Status
from drivers.supervisor import Supervisor
from helpers import FakeClock, wait_for_status, wait_until

# Loopback: a connect and the first full read take milliseconds; this bounds a broken test.
ONLINE_WITHIN = 5.0


class DeviceRoom:
    """One simulated device and its driver under a supervisor, as a test drives them."""

    def __init__(self, sim: Any, supervisor: Supervisor, clock: FakeClock | None = None) -> None:
        self.sim, self.supervisor, self.clock = sim, supervisor, clock
        self.device = supervisor.device

    async def wait_for_status(self, status: Status, within: float = 3.0) -> float:
        """Wait for ``status``; return the monotonic time it was seen."""
        await wait_for_status(self.supervisor, status, within=within)
        return time.monotonic()

    async def wait_for(self, condition: Callable[[], object], what: str, within: float = 3.0) -> None:
        await wait_until(condition, within=within, what=what)

    def channel(self, key: str, channel: int | str = 1) -> Any:
        """One channel's entry in a per-channel state: ``channel("batteries", 2)``, ``channel("mutes", "main")``."""
        return self.device.state.get(key, {}).get(channel)

    async def execute(self, payload: dict) -> None:
        await self.supervisor.execute(parse_command(payload))


@contextlib.asynccontextmanager
async def device_room(sim: Any, build_device: Callable[[str, int], Device], *, poll_interval: float,
                      clock: FakeClock | None = None) -> AsyncIterator[DeviceRoom]:
    """Start ``sim``, supervise ``build_device(host, port)`` and wait until it is online; stop both on exit."""
    async with running(sim):
        supervisor = Supervisor(build_device(sim.host, sim.port), poll_interval=poll_interval)
        supervisor.start()
        try:
            room = DeviceRoom(sim, supervisor, clock)
            await room.wait_for_status(Status.ONLINE, within=ONLINE_WITHIN)
            yield room
        finally:
            await supervisor.stop()


@contextlib.asynccontextmanager
async def running(sim: Any) -> AsyncIterator[Any]:
    """A simulator started for the ``async with`` and stopped after it."""
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
