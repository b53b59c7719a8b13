"""The simulator contract and the stream servers the line-based protocols share.

A simulator subclass declares ``protocol`` (the driver name it stands in for), keeps
a device model (state + behaviour read off an injected clock), and answers frames.
The servers here apply the link faults, so every simulator gets them the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import os
import time
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from simulators.faults import Fault, Faults

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # monotonic seconds; the demo and tests may run it faster

_SIMULATORS: dict[str, type["Simulator"]] = {}


class Simulator(ABC):
    protocol: ClassVar[str]
    description: ClassVar[str] = ""
    transport: ClassVar[str] = "tcp"  # what the standalone command binds: "tcp" host/port, or "pty"
    # Driver names this simulator stands in for besides ``protocol`` (one Zigbee2MQTT bridge
    # serves lights and thermostats).
    drivers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.faults = Faults()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "protocol" in cls.__dict__:
            _SIMULATORS[cls.protocol] = cls

    # --- lifecycle ----------------------------------------------------------------

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @property
    @abstractmethod
    def address(self) -> str:
        """What `listening <address>` prints: host:port or the pty path."""

    @abstractmethod
    def endpoint(self) -> dict[str, Any]:
        """The device config fields that reach this simulator (host/port or serial_port)."""

    async def __aenter__(self) -> "Simulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- faults -------------------------------------------------------------------

    def inject(self, fault: Fault | str, **params: float) -> None:
        fault = self.faults.inject(fault, **params)
        self.on_fault(fault)

    def clear_faults(self, fault: Fault | str | None = None) -> None:
        self.faults.clear(fault)

    def on_fault(self, fault: Fault) -> None:
        """React at once to an injected fault (drop connections, reset state)."""

    # --- command line and config ----------------------------------------------------

    @classmethod
    def endpoint_kind(cls) -> str:
        return cls.transport

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Protocol-specific options of `roomctl sim <protocol>`."""

    @classmethod
    @abstractmethod
    def from_options(cls, options: dict[str, Any], *, clock: Clock = time.monotonic) -> "Simulator":
        """Build from parsed arguments or a device's config options (password, speeds...)."""


def simulator_for(driver: str) -> type[Simulator] | None:
    """The simulator that speaks ``driver``'s protocol, by its protocol name or its ``drivers``."""
    available = simulators()
    if driver in available:
        return available[driver]
    return next((cls for cls in available.values() if driver in cls.drivers), None)


def simulators() -> dict[str, type[Simulator]]:
    import importlib
    import pkgutil

    import simulators as package

    for info in pkgutil.iter_modules(package.__path__, "simulators."):
        importlib.import_module(info.name)
    return dict(_SIMULATORS)


def corrupt(data: bytes, terminator: bytes) -> bytes:
    """Garble a reply but keep its frame end, as line noise does to a serial reply."""
    body = data[: -len(terminator)] if terminator and data.endswith(terminator) else data
    garbled = bytes(((b ^ 0x5A) & 0x7F) or 0x3F for b in body)
    return garbled.replace(terminator, b"?") + (terminator if data.endswith(terminator) else b"")


class Session:
    """One client connection to a stream simulator; protocols keep per-connection state here."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.authenticated = False
        self.values: dict[str, Any] = {}
        self.last_activity = time.monotonic()


class StreamSimulator(Simulator):
    """A device that reads terminated request lines and writes replies."""

    terminator: ClassVar[bytes] = b"\r"
    reply_terminator: ClassVar[bytes] = b"\r"
    max_line: ClassVar[int] = 512

    def greeting(self, session: Session) -> bytes | None:
        return None

    def requests_seen(self, fragment: bytes | str) -> int:
        """How many request lines contained ``fragment`` (tests watch the device's side)."""
        fragment = fragment.encode() if isinstance(fragment, str) else fragment
        return sum(fragment in line for line in self._request_log)

    @property
    def _request_log(self) -> collections.deque:
        log_ = self.__dict__.get("_requests")
        if log_ is None:
            log_ = self.__dict__["_requests"] = collections.deque(maxlen=10_000)
        return log_

    @abstractmethod
    def respond(self, session: Session, line: bytes) -> bytes | None:
        """The reply to one request line (terminator stripped), or None for no reply."""

    def reset(self) -> None:
        """Back to power-on state (after a reboot)."""

    # --- fault application shared by every transport --------------------------------

    def _rebooting(self) -> bool:
        until = getattr(self, "_reboot_until", 0.0)
        return time.monotonic() < until

    def on_fault(self, fault: Fault) -> None:
        if fault is Fault.REBOOT:
            self._reboot_until = time.monotonic() + self.faults.params["reboot_time"]
            self.faults.clear(Fault.REBOOT)
            self.reset()
            self._drop_all()
        elif fault is Fault.DISCONNECT:
            self._drop_all()

    def _drop_all(self) -> None:
        """Close every client connection (TCP) or go silent (serial)."""

    def _silent(self) -> bool:
        return Fault.DISCONNECT in self.faults or self._rebooting()

    async def _answer(self, session: Session, line: bytes, write: Callable[[bytes], Any]) -> None:
        self._request_log.append(line)
        if self._silent() or Fault.NO_REPLY in self.faults or session.values.get("partial_sent"):
            return
        try:
            reply = self.respond(session, line)
        except Exception:  # a simulator bug must show, but not take the server down
            log.exception("%s simulator failed on %r", self.protocol, line)
            return
        if reply is None:
            return
        if Fault.SLOW_REPLY in self.faults:
            await asyncio.sleep(self.faults.params["delay"])
        if Fault.GARBLED in self.faults:
            reply = corrupt(reply, self.reply_terminator)
        if Fault.PARTIAL in self.faults:
            reply = reply[: max(1, len(reply) // 2)]
            session.values["partial_sent"] = True
        await write(reply)


class TcpLineSimulator(StreamSimulator):
    """A stream simulator on a TCP listening socket."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, clock: Clock = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self.connections_opened = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def endpoint(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    # A pulled cable refuses connections: while DISCONNECT is on, nothing listens at all
    # (an accept-then-close would still look like a live port to a TCP reachability check).

    def on_fault(self, fault: Fault) -> None:
        super().on_fault(fault)
        if fault is Fault.DISCONNECT and self._server is not None:
            self._server.close()

    def clear_faults(self, fault: Fault | str | None = None, **targets: Any) -> None:
        unplugged = Fault.DISCONNECT in self.faults
        super().clear_faults(fault, **targets) if targets else super().clear_faults(fault)
        if unplugged and Fault.DISCONNECT not in self.faults:
            self._relisten = asyncio.ensure_future(self._listen_again())

    async def listening(self) -> None:
        """Return once the simulator accepts connections again (after a cleared DISCONNECT)."""
        relisten = getattr(self, "_relisten", None)
        if relisten is not None:
            await asyncio.shield(relisten)

    async def _listen_again(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        # SO_REUSEADDR (asyncio's default) lets the same port be bound again at once.
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._drop_all()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.close()

    @property
    def connections(self) -> int:
        return len(self._writers)

    def idle_timeout(self) -> float | None:
        """Seconds of silence after which the device closes a connection."""
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        if self._silent():
            writer.close()
            self._tasks.discard(task)
            return
        self._writers.add(writer)
        self.connections_opened += 1
        peer = writer.get_extra_info("peername")
        session = Session(f"{peer[0]}:{peer[1]}" if peer else "?")

        async def write(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        buffer = bytearray()
        try:
            if (hello := self.greeting(session)) is not None:
                await write(hello)
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(1024), self.idle_timeout())
                except asyncio.TimeoutError:
                    break  # idle: the device hangs up, as real projectors do
                if not chunk or self._silent() and Fault.DISCONNECT in self.faults:
                    break
                buffer += chunk
                while (end := buffer.find(self.terminator)) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + len(self.terminator)]
                    if await self._handle_line(session, line, write) is False:
                        return
                if len(buffer) > self.max_line:
                    buffer.clear()  # a runaway client; real devices drop what they can't hold
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # stop() ends every connection; nothing above this task waits for it
        finally:
            self._writers.discard(writer)
            writer.close()
            self._tasks.discard(task)

    async def _handle_line(self, session: Session, line: bytes, write) -> bool | None:
        await self._answer(session, line, write)
        return not session.values.get("hang_up")


class PtyLineSimulator(StreamSimulator):
    """A stream simulator on a pseudo-terminal, pacing its bytes at the line's baud rate.

    A pty delivers bytes instantly whatever baud rate is set on it, so the simulator
    models the wire: a request counts as received only when its last byte would have
    arrived, and the reply's bytes leave one character time apart.
    """

    transport = "pty"

    def __init__(self, *, baudrate: int = 9600, bits_per_byte: int = 10, clock: Clock = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.baudrate = baudrate
        self.byte_time = bits_per_byte / baudrate  # 8N1: start + 8 data + stop
        self._master: int | None = None
        self._slave: int | None = None
        self._path = ""
        self._incoming: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._session = Session("serial")

    @property
    def address(self) -> str:
        return self._path

    def endpoint(self) -> dict[str, Any]:
        return {"serial_port": self._path}

    async def start(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes as on a wire
        os.set_blocking(self._master, False)
        self._path = os.ttyname(self._slave)
        asyncio.get_running_loop().add_reader(self._master, self._on_readable)
        self._worker = asyncio.create_task(self._work(), name=f"{self.protocol} pty")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
            self._worker = None
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            self._master = None
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: no process has the other side open; nothing to read
            data = b""
        if data:
            self._incoming.put_nowait((data, time.monotonic()))

    def _drop_all(self) -> None:
        self._session = Session("serial")

    async def _work(self) -> None:
        buffer = bytearray()
        first_byte_at = 0.0
        while True:
            data, arrived = await self._incoming.get()
            if self._silent():
                buffer.clear()  # cable pulled or rebooting: bytes fall on the floor
                continue
            if not buffer:
                first_byte_at = arrived
            buffer += data
            while (end := buffer.find(self.terminator)) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + len(self.terminator)]
                # The request's last byte reaches the device only after its wire time.
                received = first_byte_at + (len(line) + len(self.terminator)) * self.byte_time
                await _sleep_until(received, precise=True)
                first_byte_at = received
                await self._answer(self._session, line, self._write_paced)
            if len(buffer) > self.max_line:
                buffer.clear()

    async def _write_paced(self, data: bytes) -> None:
        start = time.monotonic()
        for i in range(len(data)):
            # Only the last byte's time ends the exchange; earlier ones need no precision.
            await _sleep_until(start + (i + 1) * self.byte_time, precise=i == len(data) - 1)
            if self._master is None:
                return
            try:
                os.write(self._master, data[i : i + 1])
            except BlockingIOError:
                return  # nobody reads the port and its buffer is full: bytes are lost, as on a wire
            except OSError:
                return


# The epoll selector rounds sleeps up to whole milliseconds: a 5.2 ms wait takes 6.
TIMER_GRANULARITY = 0.001


async def _sleep_until(deadline: float, *, precise: bool = False) -> None:
    """Sleep until ``deadline``; ``precise`` yields to the loop through the last millisecond."""
    delay = deadline - time.monotonic() - (TIMER_GRANULARITY if precise else 0.0)
    if delay > 0:
        await asyncio.sleep(delay)
    while precise and time.monotonic() < deadline:
        await asyncio.sleep(0)
