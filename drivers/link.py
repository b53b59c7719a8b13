"""A kept connection to one device: a stream transport, a framer, one request at a time.

The link owns the transport's reader. Frames that answer the outstanding request
resolve it; anything else — a reply to a request that timed out, a notification, a
device that talks when nobody asked — goes to ``on_unsolicited`` or is counted and
dropped, never taken for the answer to a later request.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from drivers.errors import DeviceError, DeviceTimeout, DeviceUnreachable, ProtocolError
from drivers.transports.base import StreamTransport

log = logging.getLogger(__name__)

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


class Link:
    def __init__(
        self,
        transport: StreamTransport,
        framer: Framer,
        *,
        pacing: float = 0.0,
        on_unsolicited: Callable[[object], None] | None = None,
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
        self._accept: Callable[[object], bool] = lambda frame: True
        self._unclaimed: collections.deque = collections.deque(maxlen=UNCLAIMED_LIMIT)
        self._reader: asyncio.Task | None = None
        self._closed_error: DeviceError | None = None
        self._last_exchange = 0.0

    @property
    def is_open(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def open(self) -> None:
        self.framer.reset()
        self._unclaimed.clear()
        self._closed_error = None
        await self.transport.open()
        self._reader = asyncio.create_task(self._read_loop(), name=f"link-reader {self.name}")

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, Exception):
                pass
        await self.transport.close()
        self._fail_waiter(DeviceUnreachable(f"{self.name} closed"))

    async def request(
        self,
        data: bytes,
        *,
        timeout: float,
        accept: Callable[[object], bool] | None = None,
        what: str | None = None,
    ) -> object:
        """Send ``data`` and return the first frame ``accept`` takes as its answer."""
        async with self._lock:
            await self._pace()
            self._unclaimed.clear()
            try:
                return await self._exchange(data, timeout, accept, what or repr(data[:24]))
            finally:
                self._last_exchange = time.monotonic()

    async def send(self, data: bytes) -> None:
        """Send without waiting for an answer (the device sends none)."""
        async with self._lock:
            await self._pace()
            self._check_open()
            await self.transport.write(data)
            self._last_exchange = time.monotonic()

    async def receive(self, *, timeout: float, what: str = "a frame") -> object:
        """The next frame nobody asked for, such as a greeting on connect."""
        async with self._lock:
            if self._unclaimed:
                return self._unclaimed.popleft()
            return await self._exchange(None, timeout, None, what)

    async def _exchange(self, data, timeout, accept, what) -> object:
        self._check_open()
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._accept = accept or (lambda frame: True)
        self.stats.requests += data is not None
        try:
            if data is not None:
                await self.transport.write(data)
            return await asyncio.wait_for(asyncio.shield(self._waiter), timeout)
        except asyncio.TimeoutError:
            self.stats.timeouts += 1
            raise DeviceTimeout(what, timeout) from None
        finally:
            self._waiter = None

    async def _pace(self) -> None:
        if self.pacing:
            wait = self._last_exchange + self.pacing - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

    def _check_open(self) -> None:
        if self._closed_error is not None:
            raise self._closed_error
        if not self.is_open:
            raise DeviceUnreachable(f"{self.name} is not open")

    async def _read_loop(self) -> None:
        try:
            while True:
                chunk = await self.transport.read()
                try:
                    frames = self.framer.feed(chunk)
                except ProtocolError as exc:
                    # A peer flooding bytes without frame ends: drop the link, reconnect clean.
                    self._note_error("overflow", exc)
                    raise
                for frame in frames:
                    self._dispatch(frame)
        except DeviceError as exc:
            self._closed_error = exc
            self._fail_waiter(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a framer must still fail the request, not hang it
            self._closed_error = ProtocolError(f"reader failed: {exc!r}")
            self._fail_waiter(self._closed_error)
            log.exception("link %s reader failed", self.name)

    def _dispatch(self, frame: object) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            try:
                taken = self._accept(frame)
            except DeviceError as exc:  # the answer parsed as an error the device reported
                waiter.set_exception(exc)
                return
            if taken:
                waiter.set_result(frame)
                return
        if self.on_unsolicited is not None:
            self.on_unsolicited(frame)
            return
        self.stats.stray_frames += 1
        if waiter is None:
            self._unclaimed.append(frame)
        if self.stats.stray_frames == 1 or "stray" not in self.stats.logged_kinds:
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
