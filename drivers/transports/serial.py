"""Serial stream transport through pyserial.

Ports with a file descriptor (real RS-232 adapters, pseudo-terminals) go through
pyserial-asyncio-fast, which waits on the descriptor in the event loop. pyserial's
URL ports without one (``loop://``, ``rfc2217://``, ``spy://``) are read by a worker
thread with a short timeout: the blocking call stays off the event loop either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import serial
import serial_asyncio_fast

from drivers.errors import DeviceUnreachable
from drivers.transports.base import DataReceiver, LossReceiver, StreamProtocol, StreamTransport

OPEN_TIMEOUT = 3.0
# A worker-thread read returns at least this often, so close() never waits long.
THREAD_READ_TIMEOUT = 0.05


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
        self._protocol: StreamProtocol | None = None
        self._threaded: _ThreadedPort | None = None

    @property
    def address(self) -> str:
        return self.port

    async def open(self, on_data: DataReceiver, on_lost: LossReceiver) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                port = await loop.run_in_executor(
                    None, lambda: serial.serial_for_url(self.port, **self.settings, timeout=THREAD_READ_TIMEOUT)
                )
        except (serial.SerialException, OSError, ValueError, TimeoutError) as exc:
            raise DeviceUnreachable(f"cannot open {self.port}: {exc!r}") from exc
        if _has_fileno(port):
            port.timeout = 0
            protocol = StreamProtocol(self.port, on_data, on_lost)
            transport, _ = await serial_asyncio_fast.connection_for_serial(loop, lambda: protocol, port)
            protocol.transport = transport  # connection_made comes a loop turn later; we may write now
            self._protocol = protocol
        else:
            self._threaded = _ThreadedPort(port, loop, on_data, on_lost)

    def write(self, data: bytes) -> None:
        if self._protocol is not None:
            self._protocol.write(data)
        elif self._threaded is not None:
            self._threaded.write(data)
        else:
            raise DeviceUnreachable(f"{self.port} is not open")

    @property
    def needs_drain(self) -> bool:
        port = self._protocol or self._threaded
        return port is not None and port.needs_drain

    async def drain(self) -> None:
        port = self._protocol or self._threaded
        if port is not None:
            await port.drain()

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()
        threaded, self._threaded = self._threaded, None
        if threaded is not None:
            await threaded.close()


class _ThreadedPort:
    """A port without a descriptor, read by its own thread that hands bytes to the loop."""

    def __init__(self, port: serial.SerialBase, loop, on_data: DataReceiver, on_lost: LossReceiver) -> None:
        self.port = port
        self.loop = loop
        self.on_data = on_data
        self.on_lost = on_lost
        self.closing = False
        self._writes: list[asyncio.Future] = []
        self.thread = threading.Thread(target=self._read_forever, name=f"serial {port.portstr}", daemon=True)
        self.thread.start()

    def _read_forever(self) -> None:
        try:
            while not self.closing:
                chunk = self.port.read(max(1, self.port.in_waiting))
                if chunk:
                    self.loop.call_soon_threadsafe(self.on_data, chunk)
        except Exception as exc:  # any failure of the port ends the stream
            if not self.closing:
                self.loop.call_soon_threadsafe(self.on_lost, DeviceUnreachable(f"{self.port.portstr}: {exc!r}"))

    def write(self, data: bytes) -> None:
        # pyserial's write may block (a socket behind rfc2217://): hand it to a worker thread.
        self._writes.append(self.loop.run_in_executor(None, self.port.write, data))

    @property
    def needs_drain(self) -> bool:
        return bool(self._writes)

    async def drain(self) -> None:
        writes, self._writes = self._writes, []
        try:
            await asyncio.gather(*writes)
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnreachable(f"{self.port.portstr}: {exc!r}") from exc

    async def close(self) -> None:
        self.closing = True
        await asyncio.to_thread(self.thread.join, 1.0)
        with contextlib.suppress(Exception):
            self.port.close()


def _has_fileno(port: serial.SerialBase) -> bool:
    try:
        port.fileno()
    except (AttributeError, OSError, serial.SerialException):  # io.UnsupportedOperation is an OSError
        return False
    return True
