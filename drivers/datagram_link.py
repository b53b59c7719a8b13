"""The datagram counterpart of ``Link``: a device on UDP, one request at a time.

What differs from a stream: a datagram is a whole message (no framer), it may be
lost (a request is sent again when its answer does not come), and nothing tells us
the device went away (no connection to lose: silence is the only sign). So:

- each datagram is decoded on its own; one that does not decode is counted by kind,
  logged the first time that kind is seen, and dropped — the link carries on;
- ``request`` sends, waits for the first decoded message ``match`` takes as the
  answer, and sends again (up to ``attempts`` times within ``timeout``) when a
  datagram was lost either way;
- everything else (a console's own changes, meters) goes to ``on_unsolicited``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from drivers.errors import DeviceError, DeviceTimeout, DeviceUnreachable, ProtocolError
from drivers.transports.base import DatagramTransport
from drivers.watchdog import Watchdog

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class DatagramStats:
    requests: int = 0
    resends: int = 0                 # attempts after the first: a datagram was lost
    timeouts: int = 0
    received: int = 0
    stray: int = 0                   # decoded, but nobody asked and nobody listens
    malformed: collections.Counter = field(default_factory=collections.Counter)  # kind -> count
    last_error: str | None = None
    logged_kinds: set[str] = field(default_factory=set)


def _kind(exc: ProtocolError) -> str:
    return getattr(exc, "kind", None) or exc.reason


class DatagramLink:
    def __init__(
        self,
        transport: DatagramTransport,
        decode: Callable[[bytes], Any],
        *,
        on_unsolicited: Callable[[Any], None] | None = None,
        name: str = "",
    ) -> None:
        self.transport = transport
        self.decode = decode
        self.on_unsolicited = on_unsolicited
        self.name = name or getattr(transport, "address", "udp")
        self.stats = DatagramStats()
        self.last_received: float | None = None  # monotonic time of the last decoded datagram
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future | None = None
        self._match: Callable[[Any], Any] = lambda message: None
        self._reader: asyncio.Task | None = None
        self._resend: asyncio.Task | None = None
        self._closed_error: DeviceError | None = None
        self._watchdog = Watchdog(self._expired)
        # the outstanding request, for a resend when its watchdog expires
        self._payload, self._what, self._timeout, self._share, self._left = b"", None, 0.0, 0.0, 0
        # A transport that can send without a coroutine (UDP can: sendto never waits)
        self._send_nowait = hasattr(transport, "send_nowait")

    @property
    def is_open(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def open(self) -> None:
        self._closed_error = None
        await self.transport.open()
        push_to = getattr(self.transport, "push_to", None)
        if push_to is not None:
            # The transport hands each datagram over as it lands: no reader task between
            # the socket and the waiting request, one loop turn less per answer.
            push_to(self._on_datagram)
            self._reader = asyncio.create_task(self._watch_closed(), name=f"datagram-watch {self.name}")
        else:
            self._reader = asyncio.create_task(self._read_loop(), name=f"datagram-reader {self.name}")

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, Exception):
                pass
        self._watchdog.cancel()
        await self.transport.close()
        self._fail_waiter(DeviceUnreachable(f"{self.name} closed"))

    async def send(self, payload: bytes) -> None:
        """Send a datagram that has no answer (a set, a subscription renewal)."""
        self._check_open()
        if self._send_nowait:
            self.transport.send_nowait(payload)
        else:
            await self.transport.send(payload)

    async def request(
        self,
        payload: bytes,
        match: Callable[[Any], T | None],
        *,
        timeout: float,
        attempts: int = 2,
        what: str | None = None,
    ) -> T:
        """Send ``payload``; return what ``match`` makes of the first message it takes.

        ``match(message)`` returns the answer, or None for a message that is not this
        request's answer. The datagram is sent up to ``attempts`` times, each waiting
        an equal share of ``timeout``: a lost datagram costs a share, not the request.
        """
        await self._lock.acquire()  # one outstanding request per link
        try:
            self._check_open()
            waiter = asyncio.get_running_loop().create_future()
            self._waiter, self._match = waiter, match
            self.stats.requests += 1
            self._payload, self._what, self._timeout = payload, what, timeout
            self._share = timeout / max(1, attempts)
            self._left = max(1, attempts) - 1
            if self._send_nowait:
                self.transport.send_nowait(payload)
            else:
                await self.transport.send(payload)
            self._watchdog.arm(time.monotonic() + self._share)
            try:
                return await waiter
            finally:
                self._waiter = None
                self._watchdog.clear()
        finally:
            self._lock.release()

    def _expired(self) -> None:
        """A share of the request's timeout passed without its answer: send again, or give up."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._left == 0:
            self.stats.timeouts += 1
            waiter.set_exception(DeviceTimeout(self._what or repr(self._payload[:24]), self._timeout))
            return
        self._left -= 1
        self.stats.resends += 1
        self._resend = asyncio.get_running_loop().create_task(self._send_quietly(self._payload))
        self._watchdog.arm(time.monotonic() + self._share)

    async def _send_quietly(self, payload: bytes) -> None:
        try:
            await self.transport.send(payload)
        except DeviceError as exc:
            self._fail_waiter(exc)

    def _check_open(self) -> None:
        if self._closed_error is not None:
            raise self._closed_error
        if not self.is_open:
            raise DeviceUnreachable(f"{self.name} is not open")

    async def _watch_closed(self) -> None:
        """With a pushing transport: ``receive`` returns only when the socket is gone."""
        try:
            await self.transport.receive()
        except DeviceError as exc:
            self._closed_error = exc
            self._fail_waiter(exc)

    async def _read_loop(self) -> None:
        try:
            while True:
                datagram = await self.transport.receive()
                self._on_datagram(datagram.payload)
        except DeviceError as exc:
            self._closed_error = exc
            self._fail_waiter(exc)

    def _on_datagram(self, payload: bytes) -> None:
        try:
            message = self.decode(payload)
        except ProtocolError as exc:
            self._note_malformed(_kind(exc), exc)
            return
        except Exception as exc:  # a codec bug: count it like bad input, keep the link alive
            self._note_malformed("decoder error", exc)
            return
        self.stats.received += 1
        self.last_received = time.monotonic()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            try:
                answer = self._match(message)
            except DeviceError as exc:
                waiter.set_exception(exc)
                return
            if answer is not None:
                waiter.set_result(answer)
                return
        if self.on_unsolicited is not None:
            try:
                self.on_unsolicited(message)
            except ProtocolError as exc:  # well-formed OSC carrying a value that makes no sense
                self._note_malformed(_kind(exc), exc)
            except Exception as exc:  # a driver bug must not end the reader: count it, keep going
                self._note_malformed("handler error", exc)
            return
        self.stats.stray += 1

    def _note_malformed(self, kind: str, exc: Exception) -> None:
        self.stats.malformed[kind] += 1
        self.stats.last_error = str(exc)
        if kind not in self.stats.logged_kinds:
            self.stats.logged_kinds.add(kind)
            log.warning("%s: dropped a datagram (%s): %s", self.name, kind, exc)

    def _fail_waiter(self, exc: DeviceError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
