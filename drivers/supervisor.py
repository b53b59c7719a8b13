"""One supervisor per device: connect, poll, turn failures into a status, reconnect.

The supervisor owns the device's I/O schedule. Everything it waits on has a timeout,
so a dead device costs only its own task; other devices never wait for it.

Timing guarantees (tested against the simulators):
- a device that stops answering is ``offline`` within twice its timeout: the link is
  exercised at least every ``timeout`` seconds (a full poll, or a cheap probe between
  polls), and the first request left unanswered for ``timeout`` seconds decides;
- a device that answers again is ``online`` within 5 s: reconnect attempts back off
  from 0.25 s but never wait more than ``Backoff.maximum`` (3 s) plus jitter.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.capabilities import Command
from drivers.device import Device
from drivers.errors import AuthFailed, DeviceError, DeviceUnreachable
from drivers.status import Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.25
    factor: float = 2.0
    maximum: float = 3.0
    # Spread reconnects of many devices that failed together (a switch rebooted).
    jitter: float = 0.2
    # A wrong password will not fix itself quickly; don't hammer the device.
    bad_config_wait: float = 30.0

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt))
        return base * (1 + random.uniform(-self.jitter, self.jitter))


StatusListener = Callable[[Status, str | None], None]

# The heartbeat comes this share of the timeout after the last answer: the rest is
# slack for the loop and the wire, so "offline within 2×timeout" holds with margin.
HEARTBEAT_SHARE = 0.8


class Supervisor:
    def __init__(
        self,
        device: Device,
        *,
        poll_interval: float = 5.0,
        backoff: Backoff = Backoff(),
        on_status: StatusListener | None = None,
    ) -> None:
        self.device = device
        self.poll_interval = poll_interval
        self.backoff = backoff
        self._on_status = on_status
        self.status = Status.CONNECTING
        self.reason: str | None = None
        self.last_seen = 0.0  # monotonic time of the last answer
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        device.on_attention(self.refresh_soon)  # devices that hear news (MQTT last wills) wake us

    @property
    def timeout(self) -> float:
        return self.device.timeout

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"supervise {self.device.id}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # Python 3.11's asyncio.wait_for drops a cancel that lands as the thing it waits
            # for completes (a refresh_soon() just before stop()): cancel until it ends.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self._close_quietly()

    def refresh_soon(self) -> None:
        """Poll now instead of at the next interval (after a command, say)."""
        self._wake.set()

    async def execute(self, command: Command) -> None:
        command.check(self.device)  # validation errors first, even when offline
        if self.status in (Status.OFFLINE, Status.CONNECTING, Status.BAD_CONFIG):
            raise DeviceUnreachable(f"{self.device.id} is {self.status}: {self.reason or 'not connected'}")
        try:
            await command.apply(self.device)
        finally:
            self.refresh_soon()

    # --- the loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._connect_and_poll()
                failures = 0
                await self._poll_forever()
            except asyncio.CancelledError:
                raise
            except AuthFailed as exc:
                self._set_status(Status.BAD_CONFIG, str(exc))
                await self._close_quietly()
                await asyncio.sleep(self.backoff.bad_config_wait)
                continue
            except DeviceError as exc:
                self._set_status(Status.OFFLINE, str(exc))
            except Exception as exc:  # a driver bug must not kill supervision of the device
                log.exception("%s: unexpected driver error", self.device.id)
                self._set_status(Status.OFFLINE, f"driver error: {exc!r}")
            await self._close_quietly()
            await asyncio.sleep(self.backoff.delay(failures))
            failures += 1

    async def _connect_and_poll(self) -> None:
        await self.device.connect()
        await self.device.poll()
        self._answered()

    async def _poll_forever(self) -> None:
        # Exercise the link at least every `timeout` (less a margin for the loop's own
        # latency) after the last answer, so silence is noticed within 2×timeout.
        heartbeat = min(self.poll_interval, self.timeout * HEARTBEAT_SHARE)
        next_poll = time.monotonic() + self.poll_interval
        while True:
            wait = min(self.last_seen + heartbeat, next_poll) - time.monotonic()
            woken = False
            if wait > 0:
                try:
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                    woken = True
                except TimeoutError:
                    pass
            # Cleared only now: a refresh asked for during the poll below gets a poll of its own.
            self._wake.clear()
            full = woken or time.monotonic() >= next_poll
            try:
                await (self.device.poll() if full else self.device.probe())
            except DeviceUnreachable:
                # Devices may close an idle or old connection (PJLink does after 30 s).
                # One immediate reconnect tells a closed connection from a dead device.
                await self._close_quietly()
                await self._connect_and_poll()
            if full:
                next_poll = time.monotonic() + self.poll_interval
            self._answered()

    def _answered(self) -> None:
        self.last_seen = time.monotonic()
        fault = self.device.fault_reason()
        self._set_status(Status.FAULT if fault else Status.ONLINE, fault)

    async def _close_quietly(self) -> None:
        try:
            await asyncio.wait_for(self.device.close(), 2.0)
        except Exception:  # closing a broken link may fail in many ways; it is closed anyway
            log.debug("%s: error while closing", self.device.id, exc_info=True)

    def _set_status(self, status: Status, reason: str | None) -> None:
        if status == self.status and reason == self.reason:
            return
        self.status, self.reason = status, reason
        log.info("%s: %s%s", self.device.id, status, f" ({reason})" if reason else "")
        if self._on_status is not None:
            self._on_status(status, reason)
