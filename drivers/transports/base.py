"""The transport interfaces drivers are written against.

Stream transports (TCP, serial) are implemented here; the datagram interface is what
UDP/OSC fills in, the message interface what MQTT fills in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass


class StreamTransport(ABC):
    """An ordered byte stream to one device, kept open across commands."""

    @abstractmethod
    async def open(self) -> None:
        """Open the stream; raise DeviceUnreachable when it cannot be opened."""

    @abstractmethod
    async def read(self) -> bytes:
        """The next bytes that arrived, in whatever chunk; raise DeviceUnreachable at end of stream."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Send bytes; raise DeviceUnreachable when the stream is gone."""

    @abstractmethod
    async def close(self) -> None:
        """Close; safe to call twice or on a stream never opened."""

    @property
    @abstractmethod
    def address(self) -> str:
        """Where the stream goes, for logs and status: host:port or a port path."""


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
