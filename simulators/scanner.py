"""A serial / USB-CDC barcode scanner on a pseudo-terminal: `roomctl sim scanner --pty`.

Written from protocols/checkin.md alone: a scan is the code's ASCII bytes, optionally
after a symbology identifier (``]Q1`` for QR), ended by CR or CR LF. A USB-CDC scanner
sends a whole code at USB speed (``--baudrate 0``, the default); an RS-232 one paces
each byte at its baud rate (8N1: ten bit times a byte).

Standalone, it scans what standard input tells it: `scan CODE`, `garbage N` (N bytes of
line noise with no line end, then one), and the usual `inject FAULT` / `clear`.
Faults: ``garbled`` flips bits in the code, ``partial`` sends half a code then the end
of line (a read cut short), ``disconnect`` sends nothing (the cable is out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import time
import tty
from typing import Any

from simulators.base import Clock, Simulator
from simulators.faults import Fault

SUFFIXES = {"cr": b"\r", "crlf": b"\r\n"}
QR_IDENTIFIER = b"]Q1"


class ScannerSimulator(Simulator):
    protocol = "scanner"
    description = "a serial / USB-CDC badge scanner on a pseudo-terminal"
    transport = "pty"

    def __init__(self, *, baudrate: int = 0, suffix: str = "cr", symbology: bool = False,
                 clock: Clock = time.monotonic) -> None:
        super().__init__(clock=clock)
        if suffix not in SUFFIXES:
            raise ValueError(f"suffix is one of {', '.join(SUFFIXES)}")
        self.baudrate = baudrate
        self.byte_time = 10 / baudrate if baudrate else 0.0
        self.suffix = SUFFIXES[suffix]
        self.symbology = symbology
        self.scans_sent = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._path = ""
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        return self._path

    def endpoint(self) -> dict[str, Any]:
        return {"port": self._path}

    async def start(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # bytes as on the wire: no echo, no CR→LF translation
        os.set_blocking(self._master, False)
        self._path = os.ttyname(self._slave)

    async def stop(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    # --- scanning -----------------------------------------------------------------

    async def scan(self, code: str | bytes) -> None:
        """Type one code the way the scanner sends it."""
        body = code.encode("ascii") if isinstance(code, str) else code
        if Fault.DISCONNECT in self.faults:
            return
        if Fault.GARBLED in self.faults:
            body = bytes(((b ^ 0x21) & 0x7F) or 0x3F for b in body).replace(b"\r", b"?").replace(b"\n", b"?")
        if Fault.PARTIAL in self.faults:
            body = body[: max(1, len(body) // 2)]
        await self._send((QR_IDENTIFIER if self.symbology else b"") + body + self.suffix)
        self.scans_sent += 1

    async def garbage(self, size: int) -> None:
        """Line noise: ``size`` bytes with no line end, then a line end."""
        noise = bytes(random.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567\x00\xff\x1b") for _ in range(size))
        await self._send(noise + self.suffix)

    async def _send(self, data: bytes) -> None:
        async with self._lock:  # one code at a time on the wire
            if not self.byte_time:
                self._write(data)
                return
            start = time.monotonic()
            for i in range(len(data)):
                delay = start + (i + 1) * self.byte_time - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._write(data[i:i + 1])

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self._master is not None:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                return  # nobody reads the port and its buffer is full: the bytes are lost, as on a wire
            except OSError:
                return
            view = view[written:]

    # --- standalone control ---------------------------------------------------------

    def control(self, verb: str, args: list[str]) -> str | None:
        if verb == "scan" and len(args) == 1:
            asyncio.get_running_loop().create_task(self.scan(args[0]))
            return "scanned"
        if verb == "garbage" and len(args) == 1 and args[0].isdigit():
            asyncio.get_running_loop().create_task(self.garbage(int(args[0])))
            return "sent garbage"
        if verb in ("scan", "garbage"):
            return "error: `scan CODE` or `garbage N`"
        return None

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--pty", action="store_true", help="on a pseudo-terminal (the only transport)")
        parser.add_argument("--baudrate", type=int, default=0, help="pace bytes at this rate; 0: USB-CDC speed")
        parser.add_argument("--suffix", choices=sorted(SUFFIXES), default="cr", help="line end after each code")
        parser.add_argument("--symbology", action="store_true", help="prefix each code with ]Q1 (AIM identifier)")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock: Clock = time.monotonic) -> "ScannerSimulator":
        return cls(baudrate=int(options.get("baudrate", 0)), suffix=options.get("suffix", "cr"),
                   symbology=bool(options.get("symbology", False)), clock=clock)
