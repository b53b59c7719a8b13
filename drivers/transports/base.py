"""The transport interfaces drivers are written against.

Stream transports (TCP, serial) are implemented here; the datagram interface is what
UDP/OSC fills in, the message interface what MQTT fills in.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drivers.errors import DeviceError


DataReceiver = Callable[[bytes], None]
LossReceiver = Callable[["DeviceError"], None]


class StreamTransport(ABC):
    """An ordered byte stream to one device, kept open across commands.

    Bytes are pushed to the receiver given to ``open`` as they arrive, on the event
    loop: no reader task sits between the socket and the framer, so an answer reaches
    the request waiting for it one loop turn after it lands.
    """

    @abstractmethod
    async def open(self, on_data: DataReceiver, on_lost: LossReceiver) -> None:
        """Open the stream; raise DeviceUnreachable when it cannot be opened.

        ``on_data(bytes)`` gets every chunk; ``on_lost(error)`` is called once if the
        stream ends other than by ``close()`` (the peer hung up, the port vanished).
        """

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Queue bytes to send now; raise DeviceUnreachable when the stream is gone."""

    @property
    def needs_drain(self) -> bool:
        """True while written bytes wait for a device that reads slower than we write."""
        return False

    async def drain(self) -> None:
        """Wait until the device has taken what was written (flow control)."""

    @abstractmethod
    async def close(self) -> None:
        """Close; safe to call twice or on a stream never opened."""

    @property
    @abstractmethod
    def address(self) -> str:
        """Where the stream goes, for logs and status: host:port or a port path."""


class StreamProtocol(asyncio.Protocol):
    """The asyncio protocol behind stream transports: pushes bytes, honours flow control."""

    def __init__(self, address: str, on_data: DataReceiver, on_lost: LossReceiver) -> None:
        self.address = address
        self.on_data = on_data
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.closing = False  # set when we close: the loss is ours, nobody is told
        self._can_write = asyncio.Event()
        self._can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.on_data(data)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._can_write.set()
        if not self.closing:
            self.closing = True
            from drivers.errors import DeviceUnreachable

            reason = f"{self.address}: {exc!r}" if exc else f"{self.address} closed the connection"
            self.on_lost(DeviceUnreachable(reason))

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or self.closing or transport.is_closing():
            from drivers.errors import DeviceUnreachable

            raise DeviceUnreachable(f"{self.address} is not open")
        transport.write(data)

    @property
    def needs_drain(self) -> bool:
        return not self._can_write.is_set()

    async def drain(self) -> None:
        await self._can_write.wait()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


@dataclass(frozen=True, slots=True)
class Datagram:
    payload: bytes
    source: tuple[str, int]


class DatagramTransport(ABC):
    """Datagrams to and from one device (UDP; OSC rides on it)."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def send(self, payload: bytes) -> None: ...

    @abstractmethod
    async def receive(self) -> Datagram: ...

    @abstractmethod
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retained: bool = False


class MessageTransport(ABC):
    """Topics on a message broker (MQTT)."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def subscribe(self, topic_filter: str) -> None: ...

    @abstractmethod
    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...

    @abstractmethod
    def messages(self) -> AsyncIterator[Message]: ...

    @abstractmethod
    async def close(self) -> None: ...
