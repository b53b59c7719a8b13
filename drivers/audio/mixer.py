"""Behringer/Midas X32 (M32) and X-Air (XR12/16/18, MR18) mixers over OSC on UDP.

From Patrick-Gilles Maillot's "Unofficial X32/M32 OSC Remote Protocol" and Behringer's
"X AIR Mixer Series Remote Control Protocol": a query is an address with no
arguments, answered with the same address and the value; a set carries the value and
gets no answer; ``/xremote`` makes the mixer send every parameter change to us for
10 s; ``/meters`` does the same for a bank of meters, as one binary blob.

The two families differ in ports, a few paths and the meter format. Those
differences are data (``MixerFamily``); one device class serves both.

The codec half is pure: ``decode``/``encode_*`` (OSC through python-osc), the fader
law ``fader_db``/``fader_position`` and ``parse_meters``. The device half is
``OscMixer`` on an injected datagram transport.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field
from pythonosc.osc_message import OscMessage as _PyOscMessage
from pythonosc.osc_message import ParseError
from pythonosc.osc_message_builder import BuildError, OscMessageBuilder
from pythonosc.parsing import osc_types

from drivers.audio.malformed import Malformed
from drivers.capabilities import (
    HasAudioLevels,
    HasChannelMute,
    HasFaders,
    HasIdentity,
    HasPhantom,
    HasScenes,
    Identity,
)
from drivers.capabilities.audio import MINUS_INFINITY, FaderDb, is_clipping
from drivers.datagram_link import DatagramLink
from drivers.device import Device, TransportSpec
from drivers.errors import DeviceRejected, InvalidCommand

log = logging.getLogger(__name__)

# --- the fader law: one place for position <-> dB ------------------------------------------

# Faders are 1024 steps (0-1023) sent as step/1023; the law is piecewise linear in
# the position, from -inf (0) through -90 dB to +10 dB (1.0), four segments.
FADER_STEPS = 1024
FADER_MAX_DB = 10.0
FADER_MIN_DB = -90.0   # the bottom of the lowest segment; position 0 itself is -inf
_SEGMENTS = (  # (lowest position of the segment, dB per unit of position, dB at position 0)
    (0.5, 40.0, -30.0),
    (0.25, 80.0, -50.0),
    (0.0625, 160.0, -70.0),
    (0.0, 480.0, -90.0),
)


def quantise_position(position: float) -> float:
    """The position a console keeps: one of its 1024 steps."""
    return round(min(1.0, max(0.0, position)) * (FADER_STEPS - 1)) / (FADER_STEPS - 1)


def fader_db(position: float) -> FaderDb:
    """Position 0-1 → dB, ``"-inf"`` at 0; rounded to 0.01 dB (the console shows 0.1)."""
    if not 0.0 <= position <= 1.0 or math.isnan(position):
        raise Malformed("bad value", f"fader position {position!r} is outside 0-1")
    if position == 0.0:
        return MINUS_INFINITY
    for lowest, slope, offset in _SEGMENTS:
        if position >= lowest:
            return round(position * slope + offset, 2)
    raise AssertionError("unreachable: the last segment starts at 0")


def fader_position(db: FaderDb) -> float:
    """dB → the console's quantised position (the inverse law, then one of 1024 steps)."""
    if db == MINUS_INFINITY:
        return 0.0
    if not FADER_MIN_DB <= db <= FADER_MAX_DB:
        raise InvalidCommand(f"fader {db:g} dB is outside {FADER_MIN_DB:g}…{FADER_MAX_DB:g} dB", field="db")
    for lowest, slope, offset in _SEGMENTS:
        if db >= lowest * slope + offset:
            return quantise_position((db - offset) / slope)
    raise AssertionError("unreachable: the last segment starts at -90 dB")


# --- OSC messages --------------------------------------------------------------------------------


class OscReply(NamedTuple):
    address: str
    args: tuple


def decode(datagram: bytes) -> OscReply:
    """One datagram → (address, arguments); anything that is not one OSC message raises Malformed."""
    if datagram[:1] != b"/":
        kind = "bundle" if datagram.startswith(b"#bundle") else "not osc"
        raise Malformed(kind, "a datagram that is not an OSC message", datagram)
    if len(datagram) % 4:
        # OSC 1.0: "The size of an OSC packet is always a multiple of 4" (python-osc pads short floats).
        raise Malformed("bad osc", f"{len(datagram)} bytes is not a multiple of 4", datagram)
    try:
        message = _PyOscMessage(datagram)
    except (ParseError, IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise Malformed("bad osc", str(exc) or "unparsable message", datagram) from None
    return OscReply(message.address, tuple(message.params))


_query_cache: dict[str, bytes] = {}


def encode_query(address: str) -> bytes:
    """A query: the address and an empty type tag (``/ch/01/mix/fader,\\0\\0\\0``)."""
    datagram = _query_cache.get(address)
    if datagram is None:
        datagram = _query_cache[address] = OscMessageBuilder(address=address).build().dgram
    return datagram


_WRITERS = {"f": osc_types.write_float, "i": osc_types.write_int, "s": osc_types.write_string}


def encode_set(address: str, *args: Any, types: str | None = None) -> bytes:
    """A set: address, type tag, big-endian arguments, each padded to 4 bytes."""
    if types is not None and len(types) == len(args) and all(t in _WRITERS for t in types):
        # python-osc's writers, without its builder re-parsing what it has just built:
        # a set is sent on every fader move, so this is the hot path.
        try:
            return b"".join([osc_types.write_string(address), osc_types.write_string("," + types),
                             *(_WRITERS[t](a) for t, a in zip(types, args))])
        except osc_types.BuildError as exc:
            raise InvalidCommand(f"cannot encode {address}: {exc}") from None
    builder = OscMessageBuilder(address=address)
    for i, arg in enumerate(args):
        builder.add_arg(arg, types[i] if types else None)
    try:
        return builder.build().dgram
    except BuildError as exc:
        raise InvalidCommand(f"cannot encode {address}: {exc}") from None


# --- meters -------------------------------------------------------------------------------------------

METER_FLOOR_DBFS = -128.0  # X-Air's int16 in 1/256 dB bottoms out here; X32's silence maps to it


@dataclass(frozen=True)
class MeterFormat:
    """How a family packs ``/meters/1``: X32 float32 LE linear (1.0 = 0 dBFS), X-Air
    int16 LE in 1/256 dB; ``count`` values, the input channels first."""

    encoding: str              # "float32" or "int16"
    count: int
    inputs: int

    @property
    def value_size(self) -> int:
        return 4 if self.encoding == "float32" else 2

    def to_dbfs(self, raw: bytes) -> list[float]:
        if self.encoding == "float32":
            values = struct.unpack(f"<{len(raw) // 4}f", raw)
            return [round(max(METER_FLOOR_DBFS, 20 * math.log10(v)), 1) if v > 0 else METER_FLOOR_DBFS
                    for v in values]
        values = struct.unpack(f"<{len(raw) // 2}h", raw)
        return [round(max(METER_FLOOR_DBFS, v / 256), 1) for v in values]


def parse_meters(blob: bytes, meter_format: MeterFormat) -> list[float]:
    """A ``/meters/1`` blob → dBFS per value: an int32 LE count, then the values."""
    if len(blob) < 4:
        raise Malformed("blob size", f"a meters blob of {len(blob)} bytes has no count")
    (count,) = struct.unpack_from("<i", blob)
    if len(blob) != 4 + count * meter_format.value_size:
        raise Malformed("blob size", f"{len(blob)} bytes for {count} values of {meter_format.value_size}")
    if count != meter_format.count:
        raise Malformed("meter count", f"{count} meters where this family sends {meter_format.count}")
    return meter_format.to_dbfs(blob[4:])


# --- the two families, as data -----------------------------------------------------------------------


@dataclass(frozen=True)
class MixerFamily:
    name: str
    port: int
    channels: int
    main_fader: str
    main_on: str
    scene_load: str            # an int argument: the scene/snapshot number
    scenes: range
    scene_current: str         # query: which scene/snapshot was recalled last
    phantom: str               # format with the headamp index
    headamp_of_channel: int    # headamp index = channel + this
    meters: MeterFormat
    name_length: int = 12

    def channel_path(self, channel: int, leaf: str) -> str:
        return f"/ch/{channel:02d}/{leaf}"

    def phantom_path(self, channel: int) -> str:
        return self.phantom.format(channel + self.headamp_of_channel)


X32 = MixerFamily(
    name="X32", port=10023, channels=32,
    main_fader="/main/st/mix/fader", main_on="/main/st/mix/on",
    scene_load="/-action/goscene", scenes=range(0, 100), scene_current="/-show/prepos/current",
    phantom="/headamp/{:03d}/phantom", headamp_of_channel=-1,  # ch 01 is local input headamp 000
    meters=MeterFormat("float32", count=96, inputs=32),     # 32 inputs, 32 gates, 32 dynamics
)
XAIR = MixerFamily(
    name="X-Air", port=10024, channels=16,
    main_fader="/lr/mix/fader", main_on="/lr/mix/on",
    scene_load="/-snap/load", scenes=range(1, 65), scene_current="/-snap/index",
    phantom="/headamp/{:02d}/phantom", headamp_of_channel=0,
    meters=MeterFormat("int16", count=40, inputs=16),       # 16 inputs, then returns, buses, sends, mains
)

METERS_ADDRESS = "/meters/1"
# /xremote and /meters last 10 s on the mixer; renewing well before keeps updates flowing
# even when one renewal datagram is lost.
SUBSCRIPTION_RENEW = 4.0
RESYNC_INTERVAL = 60.0
# The mixer sends meters about 20 times a second; the state (and the event bus and the
# store behind it) takes them at this pace.
METER_INTERVAL = 0.25


# --- device -----------------------------------------------------------------------------------------------


class MixerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: int | None = Field(None, ge=1, le=32, description="Input channels to watch (default: all of the model's)")
    renew_interval: float = Field(SUBSCRIPTION_RENEW, ge=0.1, le=9.0, description="Seconds between /xremote renewals")
    resync_interval: float = Field(RESYNC_INTERVAL, ge=1, le=3600, description="Seconds between full re-reads")
    meters: bool = Field(True, description="Subscribe to /meters/1 (input levels)")
    meter_interval: float = Field(METER_INTERVAL, ge=0.05, le=10, description="Seconds between level updates kept")
    attempts: int = Field(3, ge=1, le=5, description="Sends of a query before it counts as unanswered")


class OscMixer(Device, HasIdentity, HasFaders, HasChannelMute, HasScenes, HasPhantom, HasAudioLevels):
    family: ClassVar[MixerFamily]
    Options: ClassVar[type[BaseModel]] = MixerOptions
    options: MixerOptions

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        self.link = DatagramLink(transport, decode, on_unsolicited=self._on_unsolicited, name=device_id)
        family = self.family
        count = min(self.options.channels or family.channels, family.channels)
        self._channels = tuple(range(1, count + 1))
        # address -> (state key, channel, how to read the value): one lookup per message
        self._routes: dict[str, tuple[str, int | str]] = {
            family.main_fader: ("faders", "main"), family.main_on: ("mutes", "main"),
        }
        for channel in self._channels:
            self._routes[family.channel_path(channel, "mix/fader")] = ("faders", channel)
            self._routes[family.channel_path(channel, "mix/on")] = ("mutes", channel)
            self._routes[family.channel_path(channel, "config/name")] = ("channel_names", channel)
            self._routes[family.phantom_path(channel)] = ("phantom", channel)
        self._last_renew = -math.inf
        self._last_resync = -math.inf
        self._last_meters = -math.inf
        self.meter_updates = 0

    @property
    def malformed(self):
        return self.link.stats.malformed

    # --- connection --------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.link.open()
        await self._read_identity()
        await self._renew(force=True)
        await self._resync()

    async def close(self) -> None:
        await self.link.close()

    async def _read_identity(self) -> None:
        reply = await self._query("/xinfo")
        args = [a for a in reply.args if isinstance(a, str)]
        if len(args) < 4:
            raise Malformed("bad reply", f"/xinfo answered {reply.args!r}, not ip, name, model, version")
        _ip, name, model, version = args[:4]
        self._set("identity", Identity(
            manufacturer="Midas" if model.upper().startswith("M") else "Behringer",
            model=model or None, name=name or None, firmware=version or None, protocol=f"OSC ({self.family.name})",
        ))

    # --- requests -------------------------------------------------------------------------------

    async def _query(self, address: str) -> OscReply:
        def answer(message: OscReply) -> OscReply | None:
            return message if message.address == address and message.args else None

        return await self.link.request(encode_query(address), answer, timeout=self.timeout,
                                       attempts=self.options.attempts, what=address)

    async def _read(self, address: str) -> None:
        reply = await self._query(address)
        self._apply(reply)

    async def _set_and_confirm(self, address: str, value: Any, type_tag: str) -> None:
        """A set has no answer over UDP: read the value back, send again if it was lost."""
        wire = encode_set(address, value, types=type_tag)
        for _ in range(self.options.attempts):
            await self.link.send(wire)
            reply = await self._query(address)
            self._apply(reply)
            if reply.args and _same(reply.args[0], value):
                return
        raise DeviceRejected(address, "not applied")

    async def _renew(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_renew < self.options.renew_interval:
            return
        self._last_renew = now
        await self.link.send(encode_query("/xremote"))
        if self.options.meters:
            await self.link.send(encode_set("/meters", METERS_ADDRESS, types="s"))

    async def _resync(self) -> None:
        family = self.family
        for address in (family.main_fader, family.main_on):
            await self._read(address)
        for channel in self._channels:
            for leaf in ("mix/fader", "mix/on", "config/name"):
                await self._read(family.channel_path(channel, leaf))
            await self._read(family.phantom_path(channel))
        await self._read_scene()
        self._last_resync = time.monotonic()

    async def _read_scene(self) -> None:
        reply = await self._query(self.family.scene_current)
        if reply.args and isinstance(reply.args[0], int):
            self._set("scene", reply.args[0])

    # --- polling ----------------------------------------------------------------------------------

    async def probe(self) -> None:
        await self._renew()
        reply = await self._query("/status")
        if reply.args and reply.args[0] != "active":
            log.info("%s: mixer status %r", self.id, reply.args[0])

    async def poll(self) -> None:
        await self._renew()
        if time.monotonic() - self._last_resync >= self.options.resync_interval:
            await self._resync()
        else:
            await self.probe()

    # --- state from messages ------------------------------------------------------------------------

    def _on_unsolicited(self, message: OscReply) -> None:
        if message.address == METERS_ADDRESS:
            self._apply_meters(message)
        else:
            self._apply(message)

    def _apply(self, message: OscReply) -> None:
        route = self._routes.get(message.address)
        if route is None:
            return  # a parameter this driver does not follow (the console sends them all)
        key, channel = route
        if len(message.args) != 1:
            raise Malformed("bad value", f"{message.address} carries {len(message.args)} values")
        (value,) = message.args
        if key == "faders":
            if not isinstance(value, float):
                raise Malformed("bad value", f"{message.address} is not a float: {value!r}")
            value = fader_db(value)
        elif key in ("mutes", "phantom"):
            if value not in (0, 1) or not isinstance(value, int):
                raise Malformed("bad value", f"{message.address} is not 0 or 1: {value!r}")
            value = value == 0 if key == "mutes" else value == 1  # mix/on 1 = on, i.e. not muted
        elif not isinstance(value, str):
            raise Malformed("bad value", f"{message.address} is not a string: {value!r}")
        self._set_channel(key, channel, value)

    def _apply_meters(self, message: OscReply) -> None:
        if len(message.args) != 1 or not isinstance(message.args[0], bytes):
            raise Malformed("bad meters", f"{METERS_ADDRESS} without a blob")
        levels = parse_meters(message.args[0], self.family.meters)  # checks the size before anything else
        now = time.monotonic()
        if now - self._last_meters < self.options.meter_interval:
            return
        self._last_meters = now
        self.meter_updates += 1
        inputs = {channel: levels[channel - 1] for channel in self._channels}
        self._set("levels", inputs)
        self._set("clipping", {channel: is_clipping(level) for channel, level in inputs.items()})

    def _set_channel(self, key: str, channel: int | str, value: Any) -> None:
        current = self.state.get(key, {})
        if channel in current and current[channel] == value:
            return
        self._set(key, {**current, channel: value})

    def fault_reason(self) -> str | None:
        clipping = [str(c) for c, hot in self.state.get("clipping", {}).items() if hot]
        return f"clipping on channel {', '.join(clipping)}" if clipping else None

    # --- capabilities -------------------------------------------------------------------------------

    def channel_numbers(self) -> tuple[int, ...]:
        return self._channels

    def mutable_channels(self) -> tuple[int | str, ...]:
        return self._channels + ("main",)

    def fader_range(self) -> tuple[float, float]:
        return FADER_MIN_DB, FADER_MAX_DB

    def scene_numbers(self) -> range:
        return self.family.scenes

    def _fader_address(self, channel: int | str) -> str:
        return self.family.main_fader if channel == "main" else self.family.channel_path(channel, "mix/fader")

    async def set_fader(self, channel: int | str, db: FaderDb) -> None:
        await self._set_and_confirm(self._fader_address(channel), fader_position(db), "f")

    async def set_channel_mute(self, channel: int | str, muted: bool) -> None:
        address = self.family.main_on if channel == "main" else self.family.channel_path(channel, "mix/on")
        await self._set_and_confirm(address, 0 if muted else 1, "i")

    async def set_phantom(self, channel: int, on: bool) -> None:
        await self._set_and_confirm(self.family.phantom_path(channel), 1 if on else 0, "i")

    async def recall_scene(self, number: int) -> None:
        if number not in self.family.scenes:
            raise InvalidCommand(f"scene {number} is outside {self.family.scenes.start}…{self.family.scenes.stop - 1}")
        await self.link.send(encode_set(self.family.scene_load, number, types="i"))
        # Every parameter the scene changed comes back through /xremote; read what
        # was recalled, and re-read everything at the next poll in case some was lost.
        await self._read_scene()
        self._last_resync = -math.inf


def _same(reported: Any, sent: Any) -> bool:
    if isinstance(sent, float):
        return isinstance(reported, float) and abs(reported - sent) < 0.5 / (FADER_STEPS - 1)
    return reported == sent


class X32Mixer(OscMixer):
    driver: ClassVar[str] = "x32"
    family: ClassVar[MixerFamily] = X32
    transport_spec: ClassVar[TransportSpec] = TransportSpec("udp", default_port=X32.port)


class XAirMixer(OscMixer):
    driver: ClassVar[str] = "xair"
    family: ClassVar[MixerFamily] = XAIR
    transport_spec: ClassVar[TransportSpec] = TransportSpec("udp", default_port=XAIR.port)
