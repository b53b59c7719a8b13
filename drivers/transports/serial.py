"""Serial stream transport through pyserial.

Ports with a file descriptor (real RS-232 adapters, pseudo-terminals) go through
pyserial-asyncio-fast, which waits on the descriptor in the event loop. pyserial's
URL ports without one (``loop://``, ``rfc2217://``, ``spy://``) are read by a worker
thread with a short timeout: the blocking call stays off the event loop either way.
"""

from __future__ import annotations

import asyncio
import contextlib

import serial
import serial_asyncio_fast

from drivers.errors import DeviceUnreachable
from drivers.transports.base import StreamTransport

OPEN_TIMEOUT = 3.0
# A worker-thread read returns at least this often, so close() never waits long.
THREAD_READ_TIMEOUT = 0.05


class _Inbox(asyncio.Protocol):
    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

    def data_received(self, data: bytes) -> None:
        self.chunks.put_nowait(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.chunks.put_nowait(None)


class SerialTransport(StreamTransport):
    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
    ) -> None:
        self.port = port
        self.settings = dict(baudrate=baudrate, bytesize=bytesize, parity=parity, stopbits=stopbits)
        self._transport: asyncio.Transport | None = None
        self._inbox: _Inbox | None = None
        self._threaded: serial.SerialBase | None = None

    @property
    def address(self) -> str:
        return self.port

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            port = await asyncio.wait_for(
                loop.run_in_executor(None, lambda: serial.serial_for_url(self.port, **self.settings, timeout=THREAD_READ_TIMEOUT)),
                OPEN_TIMEOUT,
            )
        except (serial.SerialException, OSError, ValueError, asyncio.TimeoutError) as exc:
            raise DeviceUnreachable(f"cannot open {self.port}: {exc!r}") from exc
        if _has_fileno(port):
            port.timeout = 0
            self._inbox = _Inbox()
            self._transport, _ = await serial_asyncio_fast.connection_for_serial(loop, lambda: self._inbox, port)
        else:
            self._threaded = port

    async def read(self) -> bytes:
        if self._inbox is not None:
            chunk = await self._inbox.chunks.get()
            if chunk is None:
                raise DeviceUnreachable(f"{self.port} was closed")
            return chunk
        port = self._threaded
        if port is None:
            raise DeviceUnreachable(f"{self.port} is not open")
        while True:
            try:
                chunk = await asyncio.to_thread(_read_some, port)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                raise DeviceUnreachable(f"{self.port}: {exc!r}") from exc
            if chunk:
                return chunk
            if self._threaded is None:
                raise DeviceUnreachable(f"{self.port} was closed")

    async def write(self, data: bytes) -> None:
        if self._transport is not None:
            if self._transport.is_closing():
                raise DeviceUnreachable(f"{self.port} was closed")
            self._transport.write(data)
            return
        if self._threaded is None:
            raise DeviceUnreachable(f"{self.port} is not open")
        try:
            await asyncio.to_thread(self._threaded.write, data)
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnreachable(f"{self.port}: {exc!r}") from exc

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        port, self._threaded = self._threaded, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
        self._inbox = None


def _has_fileno(port: serial.SerialBase) -> bool:
    try:
        port.fileno()
    except (AttributeError, OSError, serial.SerialException):  # io.UnsupportedOperation is an OSError
        return False
    return True


def _read_some(port: serial.SerialBase) -> bytes:
    # Block for the first byte (up to the port timeout), then take what is buffered.
    first = port.read(1)
    if not first:
        return b""
    waiting = port.in_waiting
    return first + (port.read(waiting) if waiting else b"")
