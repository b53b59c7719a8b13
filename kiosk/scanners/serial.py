"""A serial / USB-CDC scanner (``/dev/ttyACM*``): ASCII lines ended by CR or CR LF.

Rides on the drivers' serial transport (pyserial behind its asyncio bridge). Bytes that
are not a code — kilobytes without a line end, non-ASCII noise — become one unreadable
code that the kiosk answers as invalid; the reader carries on with the next line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from drivers.errors import DeviceError, ProtocolError
from drivers.transports.framing import LineFramer
from drivers.transports.serial import SerialTransport
from kiosk.scanners import MAX_CODE, CodeReceiver, ScannerStatus, strip_symbology

log = logging.getLogger(__name__)

# A scanner whose port is gone (USB unplugged) is retried this often.
REOPEN_INTERVAL = 0.5


class SerialScanner:
    def __init__(self, scanner_id: str, port: str, on_code: CodeReceiver, *, baudrate: int = 9600,
                 reopen_interval: float = REOPEN_INTERVAL) -> None:
        self.id = scanner_id
        self.port = port
        self.on_code = on_code
        self.baudrate = baudrate
        self.reopen_interval = reopen_interval
        self.status = ScannerStatus.CONNECTING
        self.reason: str | None = None
        self.garbage = 0  # overlong or undecodable lines seen
        self._framer = LineFramer(b"\r", max_frame=MAX_CODE)
        self._skipping = False  # inside a runaway line, waiting for its end
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"scanner {self.id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def feed(self, data: bytes) -> None:
        """Bytes from the port, in any chunking."""
        # Fed a line at a time, so codes before a runaway line in the same chunk are kept.
        for piece in re.split(b"(?<=\r)", data):
            if piece:
                self._feed_piece(piece)

    def _feed_piece(self, piece: bytes) -> None:
        try:
            frames = self._framer.feed(piece)
        except ProtocolError:
            # A runaway line: one unreadable code now, then drop the rest of it up to its end.
            if not self._skipping:
                self.garbage += 1
                self.on_code("\ufffd" * (MAX_CODE + 1), self.id)
            self._skipping = True
            return
        for frame in frames:
            if self._skipping:
                self._skipping = False
                continue
            line = frame.strip(b"\n")  # CR LF: the LF opens the next frame
            if not line:
                continue
            try:
                text = line.decode("ascii")
            except UnicodeDecodeError:
                self.garbage += 1
                text = line.decode("ascii", errors="replace")
            self.on_code(strip_symbology(text), self.id)

    async def _run(self) -> None:
        while True:
            lost = asyncio.get_running_loop().create_future()
            transport = SerialTransport(self.port, baudrate=self.baudrate)
            try:
                await transport.open(self.feed, lambda exc: lost.done() or lost.set_result(exc))
            except DeviceError as exc:
                self._set(ScannerStatus.OFFLINE, str(exc))
                await asyncio.sleep(self.reopen_interval)
                continue
            self._framer.reset()
            self._skipping = False
            self._set(ScannerStatus.ONLINE, None)
            try:
                reason = await lost
                self._set(ScannerStatus.OFFLINE, str(reason))
            finally:
                await transport.close()
            await asyncio.sleep(self.reopen_interval)

    def _set(self, status: ScannerStatus, reason: str | None) -> None:
        if (status, reason) != (self.status, self.reason):
            log.info("scanner %s: %s%s", self.id, status, f" ({reason})" if reason else "")
        self.status, self.reason = status, reason
