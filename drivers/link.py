"""A kept connection to one device: a stream transport, a framer, one request at a time.

Bytes pushed by the transport go through the framer as they arrive. A frame the
outstanding request's ``parse`` takes as its answer resolves it; anything else — a
reply to a request that timed out, a notification, a device that talks when nobody
asked — goes to ``on_unsolicited`` or is counted and dropped, never taken for the
answer to a later request.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from drivers.errors import DeviceError, DeviceTimeout, DeviceUnreachable, ProtocolError
from drivers.transports.base import StreamTransport
from drivers.watchdog import Watchdog

log = logging.getLogger(__name__)
T = TypeVar("T")

# Frames nobody asked for are kept this long for receive(); more means a chatty peer.
UNCLAIMED_LIMIT = 16


class Framer(Protocol):
    def feed(self, data: bytes) -> list: ...

    def reset(self) -> None: ...


@dataclass
class LinkStats:
    requests: int = 0
    timeouts: int = 0
    stray_frames: int = 0
    protocol_errors: int = 0
    last_error: str | None = None
    logged_kinds: set[str] = field(default_factory=set)


def _whole_frame(frame: Any) -> Any:
    return frame


class _Expired(Exception):
    """The request's own timer ran out (internal: becomes DeviceTimeout)."""


class Link:
    def __init__(
        self,
        transport: StreamTransport,
        framer: Framer,
        *,
        pacing: float = 0.0,
        on_unsolicited: Callable[[Any], None] | None = None,
        name: str = "",
    ) -> None:
        self.transport = transport
        self.framer = framer
        self.pacing = pacing
        self.on_unsolicited = on_unsolicited
        self.name = name or transport.address
        self.stats = LinkStats()
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future | None = None
        self._parse: Callable[[Any], Any] = _whole_frame
        self._unclaimed: collections.deque = collections.deque(maxlen=UNCLAIMED_LIMIT)
        self._open = False
        self._closed_error: DeviceError | None = None
        self._last_exchange = 0.0
        self._watchdog = Watchdog(self._expired)

    @property
    def is_open(self) -> bool:
        return self._open and self._closed_error is None

    async def open(self) -> None:
        self.framer.reset()
        self._unclaimed.clear()
        self._closed_error = None
        await self.transport.open(self._on_data, self._on_lost)
        self._open = True

    async def close(self) -> None:
        self._open = False
        self._watchdog.cancel()
        await self.transport.close()
        self._fail_waiter(DeviceUnreachable(f"{self.name} closed"))

    async def request(
        self,
        data: bytes,
        *,
        timeout: float,
        parse: Callable[[Any], T | None] = _whole_frame,
        what: str | None = None,
    ) -> T:
        """Send ``data``; return what ``parse`` makes of the first frame it takes as the answer.

        ``parse(frame)`` returns the typed answer, returns None for a frame that is not
        this request's answer (skipped), or raises a DeviceError the request then raises.
        """
        await self._lock.acquire()  # one outstanding request per connection
        try:
            if self.pacing:
                await self._pace()
            self._unclaimed.clear()
            return await self._exchange(data, timeout, parse, what)
        finally:
            self._last_exchange = time.monotonic()
            self._lock.release()

    async def send(self, data: bytes) -> None:
        """Send without waiting for an answer (the device sends none)."""
        async with self._lock:
            if self.pacing:
                await self._pace()
            self._check_open()
            self.transport.write(data)
            if self.transport.needs_drain:
                await self.transport.drain()
            self._last_exchange = time.monotonic()

    async def receive(self, *, timeout: float, what: str = "a frame") -> Any:
        """The next frame nobody asked for, such as a greeting on connect."""
        async with self._lock:
            if self._unclaimed:
                return self._unclaimed.popleft()
            return await self._exchange(None, timeout, _whole_frame, what)

    async def _exchange(self, data: bytes | None, timeout: float, parse, what: str | None) -> Any:
        self._check_open()
        waiter = asyncio.get_running_loop().create_future()
        self._waiter, self._parse = waiter, parse
        self._watchdog.arm(time.monotonic() + timeout)
        try:
            if data is not None:
                self.stats.requests += 1
                self.transport.write(data)
                if self.transport.needs_drain:
                    await self.transport.drain()
            return await waiter
        except _Expired:
            self.stats.timeouts += 1
            raise DeviceTimeout(what or repr(data[:24] if data else b""), timeout) from None
        finally:
            self._waiter = None
            self._watchdog.clear()

    def _expired(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(_Expired())

    async def _pace(self) -> None:
        wait = self._last_exchange + self.pacing - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def _check_open(self) -> None:
        if self._closed_error is not None:
            raise self._closed_error
        if not self._open:
            raise DeviceUnreachable(f"{self.name} is not open")

    # --- what the transport pushes ------------------------------------------------

    def _on_data(self, chunk: bytes) -> None:
        try:
            frames = self.framer.feed(chunk)
        except ProtocolError as exc:
            # A peer flooding bytes without frame ends: drop the link, reconnect clean.
            self._note_error("overflow", exc)
            self._on_lost(exc)
            asyncio.ensure_future(self.transport.close())
            return
        for frame in frames:
            self._dispatch(frame)

    def _on_lost(self, error: DeviceError) -> None:
        if self._closed_error is None:
            self._closed_error = error
        self._fail_waiter(error)

    def _dispatch(self, frame: Any) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            try:
                answer = self._parse(frame)
            except DeviceError as exc:  # garbled, or the device's own error answer
                waiter.set_exception(exc)
                return
            if answer is not None:
                waiter.set_result(answer)
                return
        if self.on_unsolicited is not None:
            self.on_unsolicited(frame)
            return
        self.stats.stray_frames += 1
        if waiter is None:
            self._unclaimed.append(frame)
        if "stray" not in self.stats.logged_kinds:
            self.stats.logged_kinds.add("stray")
            log.info("%s: frame nobody asked for: %r", self.name, frame)

    def _fail_waiter(self, exc: DeviceError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _note_error(self, kind: str, exc: Exception) -> None:
        self.stats.protocol_errors += 1
        self.stats.last_error = str(exc)
        if kind not in self.stats.logged_kinds:
            self.stats.logged_kinds.add(kind)
            log.warning("%s: %s", self.name, exc)
