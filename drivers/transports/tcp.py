"""TCP stream transport on asyncio streams."""

from __future__ import annotations

import asyncio
import socket

from drivers.errors import DeviceUnreachable
from drivers.transports.base import StreamTransport

# Connecting to a device on the venue LAN either works at once or not at all; a
# longer wait only delays the offline verdict.
CONNECT_TIMEOUT = 3.0
READ_CHUNK = 4096


class TcpTransport(StreamTransport):
    def __init__(self, host: str, port: int, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise DeviceUnreachable(f"cannot connect to {self.address}: {exc!r}") from exc
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            # Requests are a few bytes each; waiting to coalesce them only adds latency.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def read(self) -> bytes:
        if self._reader is None:
            raise DeviceUnreachable(f"{self.address} is not open")
        try:
            data = await self._reader.read(READ_CHUNK)
        except OSError as exc:
            raise DeviceUnreachable(f"{self.address}: {exc!r}") from exc
        if not data:
            raise DeviceUnreachable(f"{self.address} closed the connection")
        return data

    async def write(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise DeviceUnreachable(f"{self.address} is not open")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as exc:
            raise DeviceUnreachable(f"{self.address}: {exc!r}") from exc

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (OSError, asyncio.TimeoutError):
            pass
