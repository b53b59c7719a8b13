"""TCP stream transport on an asyncio protocol."""

from __future__ import annotations

import asyncio
import socket

from drivers.errors import DeviceUnreachable
from drivers.transports.base import DataReceiver, LossReceiver, StreamProtocol, StreamTransport

# Connecting to a device on the venue LAN either works at once or not at all; a
# longer wait only delays the offline verdict.
CONNECT_TIMEOUT = 3.0


class TcpTransport(StreamTransport):
    def __init__(self, host: str, port: int, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._protocol: StreamProtocol | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def open(self, on_data: DataReceiver, on_lost: LossReceiver) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: StreamProtocol(self.address, on_data, on_lost), self.host, self.port
                )
        except (OSError, TimeoutError) as exc:
            raise DeviceUnreachable(f"cannot connect to {self.address}: {exc!r}") from exc
        sock = protocol.transport.get_extra_info("socket")
        if sock is not None:
            # Requests are a few bytes each; waiting to coalesce them only adds latency.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._protocol = protocol

    def write(self, data: bytes) -> None:
        if self._protocol is None:
            raise DeviceUnreachable(f"{self.address} is not open")
        self._protocol.write(data)

    @property
    def needs_drain(self) -> bool:
        return self._protocol is not None and self._protocol.needs_drain

    async def drain(self) -> None:
        if self._protocol is not None:
            await self._protocol.drain()

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()
