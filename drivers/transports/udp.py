"""UDP datagram transport on an asyncio datagram endpoint, connected to one device.

The socket is connected to the device's address, so the kernel drops datagrams from
anyone else and an ICMP "port unreachable" comes back as an error on this socket.
Datagrams wait in a bounded inbox until ``receive`` takes them: a device that floods
(meters at 20 Hz nobody reads) costs its oldest datagrams, counted, never memory.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable

from drivers.errors import DeviceUnreachable
from drivers.transports.base import Datagram, DatagramTransport

# Opening a UDP socket is local work: it either works at once or the address is wrong.
OPEN_TIMEOUT = 3.0
# Datagrams held for a slow reader; a mixer's meters at 20 Hz fill this in ~25 s.
INBOX_LIMIT = 512
# Mixers answer with a few hundred bytes; meters blobs stay well under 1 KB. The
# receive buffer is raised so a burst (a scene recall echoing every parameter) fits.
RECEIVE_BUFFER = 1 << 20


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, owner: "UdpTransport") -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr) -> None:
        receiver = self.owner._receiver
        if receiver is not None:
            receiver(data)
        else:
            self.owner._deliver(Datagram(data, (addr[0], addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: nobody listens there (yet). UDP keeps
        # the socket usable, so this is remembered for whoever waits, not fatal.
        self.owner.errors += 1
        self.owner.last_error = exc

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._lost()


class UdpTransport(DatagramTransport):
    def __init__(self, host: str, port: int, *, inbox_limit: int = INBOX_LIMIT) -> None:
        self.host = host
        self.port = port
        self.errors = 0
        self.last_error: Exception | None = None
        self.dropped = 0  # datagrams discarded because the inbox was full
        self._inbox: collections.deque[Datagram] = collections.deque()
        self._inbox_limit = inbox_limit
        self._waiter: asyncio.Future | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._closed = True
        self._receiver: Callable[[bytes], None] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Endpoint(self), remote_addr=(self.host, self.port)
                )
        except (OSError, TimeoutError) as exc:
            raise DeviceUnreachable(f"cannot open UDP to {self.address}: {exc!r}") from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            except OSError:
                pass  # the kernel's cap applies; a smaller buffer only drops bursts sooner
        self._transport = transport
        self._inbox.clear()
        self._closed = False

    async def send(self, payload: bytes) -> None:
        self.send_nowait(payload)

    def send_nowait(self, payload: bytes) -> None:
        """A datagram is handed to the kernel at once: sending never waits."""
        transport = self._transport
        if transport is None or self._closed or transport.is_closing():
            raise DeviceUnreachable(f"{self.address} is not open")
        transport.sendto(payload)

    async def receive(self) -> Datagram:
        while not self._inbox or self._receiver is not None:
            if self._closed:
                raise DeviceUnreachable(f"{self.address} was closed")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._inbox.popleft()

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        self._closed = True
        self._receiver = None
        if transport is not None:
            transport.close()
        self._wake()

    @property
    def local_port(self) -> int | None:
        if self._transport is None:
            return None
        return self._transport.get_extra_info("sockname")[1]

    # --- from the endpoint ------------------------------------------------------------

    def push_to(self, receiver: Callable[[bytes], None] | None) -> None:
        """Hand each payload to ``receiver`` as it lands instead of keeping it for
        ``receive``, which then only returns (raising) once the socket is closed."""
        self._receiver = receiver

    def _deliver(self, datagram: Datagram) -> None:
        if self._receiver is not None:
            self._receiver(datagram.payload)
            return
        if len(self._inbox) >= self._inbox_limit:
            self._inbox.popleft()
            self.dropped += 1
        self._inbox.append(datagram)
        self._wake()

    def _lost(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
