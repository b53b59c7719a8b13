"""Behringer/Midas X32 and X-Air mixers on UDP (OSC), written from the published protocol.

From Patrick-Gilles Maillot's "Unofficial X32/M32 OSC Remote Protocol" and Behringer's
"X AIR Mixer Series Remote Control Protocol", not from our driver. The mixer is a
parameter tree: a query (an address, no argument) is answered with the value, a set
is applied (faders to the console's 1024 steps) and sent to every other client whose
``/xremote`` has not expired (10 s), snapshots are stored and recalled, and a
``/meters`` subscriber gets the meter bank as one blob about 20 times a second.

Input meters come from what is plugged in: ``connect_input(channel, source)`` wires a
callable returning dBFS (a wireless receiver simulator's channel output, say), so a
talker at a mic moves that channel's meter; a channel driven past full scale clips.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import logging
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pythonosc.osc_message import OscMessage, ParseError
from pythonosc.osc_message_builder import OscMessageBuilder

from simulators.base import Clock, Simulator
from simulators.faults import Fault

log = logging.getLogger(__name__)

SUBSCRIPTION_LIFETIME = 10.0   # /xremote and /meters: the mixer forgets a client after 10 s
METER_PERIOD = 0.05            # meter blobs about 20 times a second
FADER_STEPS = 1024
SILENT_DBFS = -128.0
HOT_DBFS = 6.0                 # what the clipping fault drives an input to
NAME_LENGTH = 12

Source = Callable[[], float | None]


@dataclass(frozen=True)
class Console:
    """What differs between the families, as the documents give it."""

    model: str
    port: int
    channels: int
    main: str                  # the main stereo bus's path
    scene_load: str
    scene_save: str | None
    scenes: range
    scene_current: str
    headamp: str               # format, with the headamp index
    headamp_base: int          # headamp index of channel 1
    meter_count: int           # values in /meters/1
    meter_float: bool          # float32 linear (X32) or int16 1/256 dB (X-Air)
    server_version: str


X32_CONSOLE = Console(
    model="X32", port=10023, channels=32, main="/main/st",
    scene_load="/-action/goscene", scene_save="/-action/savescene", scenes=range(0, 100),
    scene_current="/-show/prepos/current", headamp="/headamp/{:03d}/phantom", headamp_base=0,
    meter_count=96, meter_float=True, server_version="V2.05",
)
XAIR_CONSOLE = Console(
    model="XR18", port=10024, channels=16, main="/lr",
    scene_load="/-snap/load", scene_save="/-snap/save", scenes=range(1, 65),
    scene_current="/-snap/index", headamp="/headamp/{:02d}/phantom", headamp_base=1,
    meter_count=40, meter_float=False, server_version="V1.17",
)


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, sim: "MixerSimulator") -> None:
        self.sim = sim

    def datagram_received(self, data: bytes, addr) -> None:
        self.sim._received(data, (addr[0], addr[1]))


class MixerSimulator(Simulator):
    console: ClassVar[Console]
    transport = "udp"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, name: str | None = None,
                 subscription_lifetime: float = SUBSCRIPTION_LIFETIME, meter_period: float = METER_PERIOD,
                 clock: Clock = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.host, self.port = host, port
        self.name = name or f"{self.console.model}-00-53-01"
        self.subscription_lifetime = float(subscription_lifetime)
        self.meter_period = float(meter_period)
        self.params: dict[str, tuple[str, Any]] = self._initial_params()  # address -> (type tag, value)
        first = self.console.scenes.start
        self.snapshots: dict[int, dict[str, tuple[str, Any]]] = {first: copy.deepcopy(self.params)}
        self.current_scene = first
        self.inputs: dict[int, Source] = {}
        self.talkers: dict[int, float] = {}
        self.xremote: dict[tuple[str, int], float] = {}   # client -> expiry (monotonic)
        self.meters: dict[tuple[str, int], float] = {}
        self.received: list[tuple[str, tuple]] = []       # what clients sent, for tests to watch
        self._transport: asyncio.DatagramTransport | None = None
        self._meter_task: asyncio.Task | None = None
        self._silent_until = 0.0
        self._loss_in = self._loss_out = 0.0

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def endpoint(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Endpoint(self), local_addr=(self.host, self.port))
        self.port = self._transport.get_extra_info("sockname")[1]
        self._meter_task = asyncio.create_task(self._meter_loop(), name=f"{self.protocol} meters")

    async def stop(self) -> None:
        if self._meter_task is not None:
            self._meter_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._meter_task
            self._meter_task = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # --- the console tree ------------------------------------------------------------------------

    def _initial_params(self) -> dict[str, tuple[str, Any]]:
        c = self.console
        params: dict[str, tuple[str, Any]] = {
            f"{c.main}/mix/fader": ("f", _quantise(0.75)), f"{c.main}/mix/on": ("i", 1),
            c.scene_current: ("i", c.scenes.start), "/-prefs/name": ("s", ""),
        }
        for ch in range(1, c.channels + 1):
            params[f"/ch/{ch:02d}/mix/fader"] = ("f", _quantise(0.75))  # 0 dB
            params[f"/ch/{ch:02d}/mix/on"] = ("i", 1)
            params[f"/ch/{ch:02d}/config/name"] = ("s", f"Ch {ch:02d}" if ch > 9 else f"Ch {ch}")
            params[c.headamp.format(ch - 1 + c.headamp_base)] = ("i", 0)
        return params

    def set_param(self, address: str, value: Any, *, sender: tuple[str, int] | None = None) -> None:
        """Change a parameter as the console does: on its surface when ``sender`` is None."""
        tag, _ = self.params[address]
        if tag == "f":
            value = _quantise(float(value))
        self.params[address] = (tag, value)
        self._notify(address, tag, value, exclude=sender)

    def console_set(self, address: str, value: Any) -> None:
        """Someone moves a fader or presses a button on the console itself."""
        self.set_param(address, value)

    def save_snapshot(self, number: int) -> None:
        self.snapshots[number] = copy.deepcopy(self.params)

    def load_snapshot(self, number: int) -> None:
        snapshot = self.snapshots.get(number)
        if snapshot is None:
            return  # an empty slot: the console ignores the recall
        for address, (tag, value) in snapshot.items():
            if self.params.get(address) != (tag, value):
                self.params[address] = (tag, value)
                self._notify(address, tag, value)
        self.current_scene = number
        self.params[self.console.scene_current] = ("i", number)

    def param(self, address: str) -> Any:
        return self.params[address][1]

    # --- what is plugged into the inputs -------------------------------------------------------------

    def connect_input(self, channel: int, source: Source) -> None:
        self.inputs[channel] = source

    def talk(self, channel: int, level_dbfs: float = -20.0) -> None:
        """A signal on an input with nothing connected (the standalone simulator's talker)."""
        self.talkers[channel] = level_dbfs

    def input_dbfs(self, channel: int) -> float:
        if Fault.CLIPPING in self.faults and int(self.faults.params.get("channel", 0)) in (0, channel):
            if channel in self.inputs or int(self.faults.params.get("channel", 0)) == channel:
                return HOT_DBFS
        source = self.inputs.get(channel)
        level = source() if source is not None else self.talkers.get(channel)
        return SILENT_DBFS if level is None else level

    def meter_blob(self) -> bytes:
        c = self.console
        levels = [self.input_dbfs(ch) for ch in range(1, c.channels + 1)]
        levels += [SILENT_DBFS] * (c.meter_count - len(levels))
        if c.meter_float:
            values = [0.0 if db <= SILENT_DBFS else 10 ** (db / 20) for db in levels]
            return struct.pack(f"<i{len(values)}f", len(values), *values)
        values = [max(-32768, min(32767, round(db * 256))) for db in levels]
        return struct.pack(f"<i{len(values)}h", len(values), *values)

    # --- faults ----------------------------------------------------------------------------------------

    def on_fault(self, fault: Fault) -> None:
        if fault is Fault.REBOOT:
            self.faults.clear(Fault.REBOOT)
            self._silent_until = time.monotonic() + self.faults.params["reboot_time"]
            # Back to the last snapshot recalled, with no clients remembered.
            self.params = copy.deepcopy(self.snapshots.get(self.current_scene, self._initial_params()))
            self.xremote.clear()
            self.meters.clear()
        elif fault is Fault.XREMOTE_EXPIRED:
            self.faults.clear(Fault.XREMOTE_EXPIRED)
            self.xremote.clear()
            self.meters.clear()

    def _silent(self) -> bool:
        return Fault.DISCONNECT in self.faults or time.monotonic() < self._silent_until

    def _lost(self, direction: str) -> bool:
        """Deterministic loss: a share ``loss`` of the datagrams each way, evenly spread."""
        if Fault.PACKET_LOSS not in self.faults:
            return False
        loss = min(1.0, max(0.0, float(self.faults.params.get("loss", 0.5))))
        attr = "_loss_in" if direction == "in" else "_loss_out"
        total = getattr(self, attr) + loss
        dropped = total >= 1.0
        setattr(self, attr, total - 1.0 if dropped else total)
        return dropped

    # --- datagrams ---------------------------------------------------------------------------------------

    def _received(self, data: bytes, sender: tuple[str, int]) -> None:
        if self._silent() or Fault.NO_REPLY in self.faults or self._lost("in"):
            return
        try:
            message = OscMessage(data)
        except (ParseError, IndexError, struct.error, UnicodeDecodeError, ValueError):
            return  # the console ignores what it cannot read
        args = tuple(message.params)
        self.received.append((message.address, args))
        del self.received[:-1000]
        try:
            self._handle(message.address, args, sender)
        except Exception:  # a simulator bug must show, not take the mixer down
            log.exception("%s simulator failed on %s %r", self.protocol, message.address, args)

    def _handle(self, address: str, args: tuple, sender: tuple[str, int]) -> None:
        c = self.console
        now = time.monotonic()
        if address in ("/xinfo", "/info", "/status"):
            host = self.host
            replies = {
                "/xinfo": (host, self.name, c.model, "4.06" if c.meter_float else "1.17"),
                "/info": (c.server_version, "osc-server", c.model, "4.06" if c.meter_float else "1.17"),
                "/status": ("active", host, self.name),
            }
            self._send(_osc(address, [("s", v) for v in replies[address]]), sender)
        elif address == "/xremote":
            self.xremote[sender] = now + self.subscription_lifetime
        elif address == "/meters":
            if args and args[0] == "/meters/1":
                self.meters[sender] = now + self.subscription_lifetime
        elif address == c.scene_load:
            if len(args) == 1 and isinstance(args[0], int) and args[0] in c.scenes:
                self.load_snapshot(args[0])
        elif c.scene_save is not None and address == c.scene_save:
            if args and isinstance(args[0], int) and args[0] in c.scenes:
                self.save_snapshot(args[0])
        elif address in self.params:
            tag, value = self.params[address]
            if not args:
                self._send(_osc(address, [(tag, value)]), sender)
            elif len(args) == 1 and _fits(tag, args[0]):
                self.set_param(address, args[0], sender=sender)
        # anything else: the console does not know the address and stays quiet

    def _notify(self, address: str, tag: str, value: Any, *, exclude: tuple[str, int] | None = None) -> None:
        now = time.monotonic()
        datagram = None
        for client, expires in list(self.xremote.items()):
            if expires < now:
                del self.xremote[client]
                continue
            if client == exclude:
                continue
            datagram = datagram or _osc(address, [(tag, value)])
            self._send(datagram, client)

    def _send(self, datagram: bytes, client: tuple[str, int]) -> None:
        if self._transport is None or self._silent() or self._lost("out"):
            return
        if Fault.GARBLED in self.faults:
            datagram = bytes(b ^ 0x5A for b in datagram)
        if Fault.PARTIAL in self.faults:
            datagram = datagram[: max(1, len(datagram) // 2)]
        if Fault.SLOW_REPLY in self.faults:
            asyncio.get_running_loop().call_later(self.faults.params["delay"], self._transport.sendto, datagram, client)
            return
        self._transport.sendto(datagram, client)

    async def _meter_loop(self) -> None:
        while True:
            await asyncio.sleep(self.meter_period)
            now = time.monotonic()
            for client, expires in list(self.meters.items()):
                if expires < now:
                    del self.meters[client]
            if self.meters and not self._silent():
                datagram = _osc("/meters/1", [("b", self.meter_blob())])
                for client in list(self.meters):
                    self._send(datagram, client)

    # --- command line and config ---------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        # A UDP device is reached by host and port too; the generic command adds them for TCP only.
        if "--host" not in parser._option_string_actions:
            parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
            parser.add_argument("--port", type=int, default=0, help="UDP port (default: a free one)")
        parser.add_argument("--name", help="the console's network name (/xinfo)")
        parser.add_argument("--talk", help="inputs with a signal on them, e.g. 1,2")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock: Clock = time.monotonic) -> "MixerSimulator":
        given = {k: v for k, v in options.items() if k in OPTION_KEYS and v is not None}
        sim = cls(clock=clock, **given)
        talk = options.get("talk")
        for channel in (talk.split(",") if isinstance(talk, str) else talk or ()):
            if str(channel).strip():
                sim.talk(int(channel))
        return sim


OPTION_KEYS = frozenset({"host", "port", "name", "subscription_lifetime", "meter_period"})


class X32Simulator(MixerSimulator):
    protocol = "x32"
    description = "Behringer/Midas X32 mixer (OSC over UDP, /xremote, /meters, scenes)"
    console = X32_CONSOLE
    DEFAULT_PORT = X32_CONSOLE.port


class XAirSimulator(MixerSimulator):
    protocol = "xair"
    description = "Behringer X-Air / Midas MR mixer (OSC over UDP, /xremote, /meters, snapshots)"
    console = XAIR_CONSOLE
    DEFAULT_PORT = XAIR_CONSOLE.port


def _osc(address: str, args: list[tuple[str, Any]]) -> bytes:
    builder = OscMessageBuilder(address=address)
    for tag, value in args:
        builder.add_arg(value, tag)
    return builder.build().dgram


def _quantise(position: float) -> float:
    return round(min(1.0, max(0.0, position)) * (FADER_STEPS - 1)) / (FADER_STEPS - 1)


def _fits(tag: str, value: Any) -> bool:
    if tag == "f":
        return isinstance(value, float) and 0.0 <= value <= 1.0 and not math.isnan(value)
    if tag == "i":
        return isinstance(value, int) and value in (0, 1)
    return isinstance(value, str) and len(value) <= NAME_LENGTH

