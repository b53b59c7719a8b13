"""Shure digital wireless receivers (ULX-D, QLX-D command set) over TCP 2202.

From Shure's "ULX-D Command Strings": ASCII messages in angle brackets, ``< GET 1
BATT_BARS >`` answered by ``< REP 1 BATT_BARS 004 >``; a channel of 0 means every
channel; string values are ``{braced and padded}``; the receiver sends ``REP`` on
its own whenever a non-metered value changes, ``REP ERR`` for a command it refuses,
and ``< SAMPLE x ALL nn aaa eee >`` (antenna, RF level, audio level) every
METER_RATE milliseconds once metering is on.

The codec half is pure (``ShureFramer``, ``parse_frame``, the value parsers and
encoders); the device half is ``ShureReceiver`` on an injected stream transport.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from drivers.audio.malformed import Malformed, MalformedLog
from drivers.capabilities import (
    Antenna,
    Battery,
    BatteryType,
    GainRange,
    HasAudioLevels,
    HasBattery,
    HasChannelMute,
    HasGain,
    HasIdentity,
    HasRf,
    HasWirelessChannels,
    Identity,
    RfLink,
    RuntimeState,
    Transmitter,
    WirelessChannel,
)
from drivers.capabilities.audio import RF_DROPOUT_DBM, is_clipping
from drivers.device import Device, TransportSpec
from drivers.errors import DeviceRejected, DeviceTimeout, InvalidCommand, ProtocolError
from drivers.link import Link

log = logging.getLogger(__name__)

PORT = 2202
MAX_CHANNELS = 4  # ULXD4Q, AD4Q: four channels is the most one receiver has
# The longest message is a braced 32-character MODEL or a 31-character Dante name;
# past this many bytes without a closing ">" the peer is not speaking this protocol.
MAX_FRAME = 256
MAX_BRACED = 40  # braced strings are padded to at most 32 characters (MODEL, 31 for names)

# Metering. The command strings take 00100-99999 ms, but Shure recommends rates of
# seconds on a receiver doing real work (fast rates are a known cause of receivers'
# network stacks locking up), and its own example is 01000. The driver never asks for
# faster than this, whatever a config says.
MIN_METER_INTERVAL = 1.0
MAX_METER_INTERVAL = 99.999
DEFAULT_METER_INTERVAL = 1.0
# A full re-read of every parameter, in case an unsolicited REP was missed while the
# link was up. The receiver reports changes itself, so this can be rare.
RESYNC_INTERVAL = 60.0

GAIN = GainRange(min_db=-18.0, max_db=42.0, step_db=1.0)  # AUDIO_GAIN 000-060 = value - 18 dB
GAIN_OFFSET = 18
RF_OFFSET = 128      # RX_RF_LVL / SAMPLE aaa: dBm = value - 128
AUDIO_OFFSET = 50    # AUDIO_LVL / SAMPLE eee: dBFS = value - 50

# --- codec: framing ----------------------------------------------------------------------

_SPACE = b" \t\r\n"


class ShureFramer:
    """Cuts ``< ... >`` messages out of a byte stream, whatever the chunking.

    ``>`` inside a ``{braced}`` value is text (names may contain ``<=>``), not an end.
    Text outside brackets, and a message cut short by a new ``<``, come out as frames
    of their own so the parser can reject them by kind; whitespace between messages
    (some firmware sends CR LF) is skipped.
    """

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self._max_frame = max_frame
        self._buffer = bytearray()
        self._scan = 1          # where the search for the end of the open message resumes
        self._in_brace = False
        self._brace_at = 0

    def reset(self) -> None:
        self._buffer.clear()
        self._scan, self._in_brace = 1, False

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        while buffer:
            if buffer[0] in _SPACE:
                start = 0
                while start < len(buffer) and buffer[start] in _SPACE:
                    start += 1
                del buffer[:start]
                continue
            if buffer[0] != 0x3C:  # "<": text outside any message
                start = buffer.find(b"<")
                if start < 0:
                    break  # wait: the rest of the stray text, or the next "<", is still coming
                frames.append(bytes(buffer[:start]).strip())
                del buffer[:start]
                continue
            found = self._find_end()
            if found is None:
                break
            end, closed = found
            # A message cut short by a new "<" goes out without its ">": the parser rejects it.
            frames.append(bytes(buffer[: end + 1]) if closed else bytes(buffer[:end]).strip())
            del buffer[: end + 1 if closed else end]
            self._scan, self._in_brace = 1, False
        if len(buffer) > self._max_frame:
            overflow = bytes(buffer[:80])
            self.reset()
            raise ProtocolError(f"message longer than {self._max_frame} bytes", overflow)
        return frames

    def _find_end(self) -> tuple[int, bool] | None:
        """Where the message at the buffer's start ends: (index of its ">", True), or
        (index of a "<" that began another message first, False); None if not here yet."""
        buffer = self._buffer
        i, in_brace = self._scan, self._in_brace
        while i < len(buffer):
            byte = buffer[i]
            if in_brace:
                if byte == 0x7D:  # "}"
                    in_brace = False
                elif i - self._brace_at > MAX_BRACED:
                    # No value is this long: the "{" was a stray byte, not a string.
                    in_brace = False
                    i = self._brace_at
            elif byte == 0x7B:  # "{"
                in_brace, self._brace_at = True, i
            elif byte == 0x3E:  # ">"
                return i, True
            elif byte == 0x3C:  # "<"
                return i, False
            i += 1
        self._scan, self._in_brace = i, in_brace
        return None


# --- codec: messages ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """``< REP [channel] PARAM value >``: an answer, or a change the receiver reports."""

    channel: int | None  # None: a device-level parameter
    param: str
    value: str


@dataclass(frozen=True, slots=True)
class ReportError:
    """``< REP ERR >``: the receiver refused the last command (format or range)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """``< SAMPLE x ALL nn aaa eee >``: one channel's meters."""

    channel: int
    antenna: Antenna
    rf_dbm: int
    audio_dbfs: int


Message = Report | ReportError | Sample

_PARAM = re.compile(r"[A-Z][A-Z0-9_]*")


def parse_frame(frame: bytes) -> Message:
    """One framed message → a typed message; anything else raises ``Malformed``."""
    if not (frame.startswith(b"<") and frame.endswith(b">")):
        raise Malformed("not bracketed", "text outside < >", frame)
    try:
        text = frame[1:-1].decode("ascii")
    except UnicodeDecodeError:
        raise Malformed("not ascii", "non-ASCII bytes", frame) from None
    words = text.split(None, 1)
    if not words:
        raise Malformed("empty message", "nothing between < >", frame)
    verb, rest = words[0], (words[1] if len(words) > 1 else "")
    if verb == "REP":
        return _parse_report(rest.strip(), frame)
    if verb == "SAMPLE":
        return _parse_sample(rest.split(), frame)
    raise Malformed("unexpected verb", f"{verb!r} from a receiver", frame)


def _parse_report(rest: str, frame: bytes) -> Report | ReportError:
    if rest == "ERR" or rest.startswith("ERR "):
        return ReportError()
    channel: int | None = None
    head, _, rest = rest.partition(" ")
    if head.isdigit():
        channel = _channel(head, frame)
        head, _, rest = rest.partition(" ")
    if not _PARAM.fullmatch(head):
        raise Malformed("bad parameter", f"{head!r} is not a parameter name", frame)
    value = rest.strip()
    if not value:
        raise Malformed("missing value", f"{head} has no value", frame)
    return Report(channel, head, value)


def _parse_sample(words: list[str], frame: bytes) -> Sample:
    if len(words) != 5 or words[1] != "ALL":
        raise Malformed("bad sample", "expected SAMPLE x ALL nn aaa eee", frame)
    channel = _channel(words[0], frame)
    try:
        return Sample(channel, parse_antenna(words[2]), parse_rf_level(words[3]), parse_audio_level(words[4]))
    except Malformed as exc:
        raise Malformed("bad sample", exc.detail, frame) from None


def _channel(text: str, frame: bytes) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_CHANNELS:
        raise Malformed("bad channel", f"channel {text!r} is not 1-{MAX_CHANNELS}", frame)
    return int(text)


# --- codec: values -----------------------------------------------------------------------


def _number(value: str, digits: int, low: int, high: int, what: str) -> int:
    if not value.isdigit() or len(value) > digits:
        raise Malformed("bad value", f"{what} {value!r} is not a {digits}-digit number")
    number = int(value)
    if not low <= number <= high:
        raise Malformed("value out of range", f"{what} {number} is outside {low}-{high}")
    return number


def parse_battery_bars(value: str) -> int | str:
    """BATT_BARS 000-005; 255 = unknown (no transmitter, or it does not say)."""
    number = _number(value, 3, 0, 255, "BATT_BARS")
    if number == 255:
        return "unknown"
    if number > 5:
        raise Malformed("value out of range", f"BATT_BARS {number} is not 0-5 or 255")
    return number


def parse_battery_percent(value: str) -> int | str:
    """BATT_CHARGE 000-100 percent; 255 = unknown."""
    number = _number(value, 3, 0, 255, "BATT_CHARGE")
    if number == 255:
        return "unknown"
    if number > 100:
        raise Malformed("value out of range", f"BATT_CHARGE {number} is not 0-100 or 255")
    return number


RUNTIME_SENTINELS = {65535: RuntimeState.UNKNOWN, 65534: RuntimeState.CALCULATING, 65533: RuntimeState.COMM_ERROR}


def parse_battery_runtime(value: str) -> int | RuntimeState:
    """BATT_RUN_TIME minutes 00000-65532; 65533 comm error, 65534 calculating, 65535 unknown."""
    number = _number(value, 5, 0, 65535, "BATT_RUN_TIME")
    return RUNTIME_SENTINELS.get(number, number)


BATTERY_TYPES = {
    "ALKA": BatteryType.ALKALINE, "LION": BatteryType.LITHIUM_ION, "LITH": BatteryType.LITHIUM,
    "NIMH": BatteryType.NIMH, "WARN": BatteryType.WARNING, "UNKN": BatteryType.UNKNOWN,
}


def parse_battery_type(value: str) -> BatteryType:
    try:
        return BATTERY_TYPES[value]
    except KeyError:
        raise Malformed("bad value", f"BATT_TYPE {value!r} is not one of {', '.join(BATTERY_TYPES)}") from None


def parse_transmitter(value: str) -> Transmitter:
    """TX_TYPE: the transmitter's model (ULXD2, QLXD1...), UNKN when none is on."""
    if value == "UNKN":
        return Transmitter(present=False)
    if not re.fullmatch(r"[A-Z0-9+]{2,16}", value):
        raise Malformed("bad value", f"TX_TYPE {value!r} is not a transmitter model")
    return Transmitter(present=True, model=value)


def parse_gain(value: str) -> int:
    """AUDIO_GAIN 000-060 → -18…+42 dB."""
    return _number(value, 3, 0, 60, "AUDIO_GAIN") - GAIN_OFFSET


def parse_on_off(value: str, what: str) -> bool:
    if value not in ("ON", "OFF"):
        raise Malformed("bad value", f"{what} {value!r} is not ON or OFF")
    return value == "ON"


def parse_braced(value: str, limit: int, what: str) -> str:
    """``{Lead Vox }`` → ``Lead Vox``: the braces and their padding are framing, not text."""
    if len(value) < 2 or value[0] != "{" or value[-1] != "}":
        raise Malformed("bad value", f"{what} {value[:40]!r} is not in braces")
    text = value[1:-1].strip()
    if len(text) > limit:
        raise Malformed("value out of range", f"{what} longer than {limit} characters")
    return text


def parse_frequency(value: str) -> int:
    """FREQUENCY in kHz, six digits (``578350`` = 578.350 MHz); Axient pads to seven."""
    if not value.isdigit() or len(value) not in (6, 7):
        raise Malformed("bad value", f"FREQUENCY {value!r} is not 6 digits of kHz")
    return int(value)


ANTENNAS = {"AX": Antenna.A, "XB": Antenna.B, "AB": Antenna.BOTH, "XX": Antenna.NONE}


def parse_antenna(value: str) -> Antenna:
    """RF_ANTENNA / SAMPLE nn: which diversity antenna LEDs are lit (AX, XB, AB, XX)."""
    try:
        return ANTENNAS[value]
    except KeyError:
        raise Malformed("bad value", f"antenna {value!r} is not one of AX, XB, AB, XX") from None


def parse_rf_level(value: str) -> int:
    """RX_RF_LVL / SAMPLE aaa: 000-255, dBm = value - 128."""
    return _number(value, 3, 0, 255, "RF level") - RF_OFFSET


def parse_audio_level(value: str) -> int:
    """AUDIO_LVL / SAMPLE eee: 000-255, dBFS = value - 50 (000-050 is -50…0 dBFS)."""
    return _number(value, 3, 0, 255, "audio level") - AUDIO_OFFSET


def parse_interference(value: str) -> bool:
    """RF_INT_DET: NONE, or CRITICAL when interference is detected on the channel."""
    if value not in ("NONE", "CRITICAL"):
        raise Malformed("bad value", f"RF_INT_DET {value!r} is not NONE or CRITICAL")
    return value == "CRITICAL"


def parse_meter_rate(value: str) -> float:
    """METER_RATE in ms (5 digits), 0 = off → seconds."""
    return _number(value, 5, 0, 99999, "METER_RATE") / 1000


def _encode(verb: str, channel: int | None, param: str, value: str | None = None) -> bytes:
    parts = ["<", verb]
    if channel is not None:
        parts.append(str(channel))
    parts.append(param)
    if value is not None:
        parts.append(value)
    parts.append(">")
    return " ".join(parts).encode("ascii")


def encode_get(param: str, channel: int | None = None) -> bytes:
    """``< GET 1 BATT_BARS >``; device-level parameters have no channel: ``< GET FW_VER >``."""
    return _encode("GET", channel, param)


def encode_set(param: str, value: str, channel: int | None = None) -> bytes:
    return _encode("SET", channel, param, value)


def gain_value(db: float) -> str:
    """-18…+42 dB in 1 dB steps → ``000``-``060``."""
    steps = db + GAIN_OFFSET
    if steps != int(steps) or not 0 <= steps <= 60:
        raise InvalidCommand(f"gain {db:g} dB is not a whole dB in -18…+42", field="db")
    return f"{int(steps):03d}"


def meter_rate_value(seconds: float) -> str:
    """Seconds → METER_RATE milliseconds, never faster than the floor; 0 turns metering off."""
    if seconds == 0:
        return "00000"
    if not MIN_METER_INTERVAL <= seconds <= MAX_METER_INTERVAL:
        raise InvalidCommand(f"meter interval {seconds:g} s is outside {MIN_METER_INTERVAL:g}…{MAX_METER_INTERVAL:g} s")
    return f"{round(seconds * 1000):05d}"


def channels_of_model(model: str) -> int | None:
    """ULXD4 → 1, ULXD4D → 2 (Dual), ULXD4Q → 4 (Quad); None for a name we cannot read."""
    if not re.fullmatch(r"[A-Z0-9+\-]+", model):
        return None
    return 4 if model.endswith("Q") else 2 if model.endswith("D") and not model.endswith("4") else 1


# --- device ----------------------------------------------------------------------------------


class ShureOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metering: bool = Field(True, description="Ask for SAMPLE reports (RF and audio levels)")
    meter_interval: float = Field(
        DEFAULT_METER_INTERVAL, ge=MIN_METER_INTERVAL, le=MAX_METER_INTERVAL,
        description="Seconds between SAMPLE reports; Shure recommends seconds, not milliseconds",
    )
    channels: int | None = Field(None, ge=1, le=MAX_CHANNELS, description="Channel count, when MODEL is not reported")
    resync_interval: float = Field(RESYNC_INTERVAL, ge=1, le=3600, description="Seconds between full re-reads")


# What each channel parameter feeds; parameters not listed are valid but unused here.
CHANNEL_PARAMS = {
    "CHAN_NAME": "channels", "FREQUENCY": "channels",
    "TX_TYPE": "transmitters",
    "BATT_BARS": "batteries", "BATT_CHARGE": "batteries", "BATT_RUN_TIME": "batteries", "BATT_TYPE": "batteries",
    "RF_ANTENNA": "rf", "RX_RF_LVL": "rf", "RF_INT_DET": "rf",
    "AUDIO_LVL": "levels",
    "AUDIO_GAIN": "gains",
    "AUDIO_MUTE": "mutes",
}
CHANNEL_PARSERS = {
    "CHAN_NAME": lambda v: parse_braced(v, 31, "CHAN_NAME"),
    "FREQUENCY": parse_frequency,
    "TX_TYPE": parse_transmitter,
    "BATT_BARS": parse_battery_bars,
    "BATT_CHARGE": parse_battery_percent,
    "BATT_RUN_TIME": parse_battery_runtime,
    "BATT_TYPE": parse_battery_type,
    "RF_ANTENNA": parse_antenna,
    "RX_RF_LVL": parse_rf_level,
    "RF_INT_DET": parse_interference,
    "AUDIO_LVL": parse_audio_level,
    "AUDIO_GAIN": parse_gain,
    "AUDIO_MUTE": lambda v: parse_on_off(v, "AUDIO_MUTE"),
    "METER_RATE": parse_meter_rate,
}
DEVICE_PARSERS = {
    "MODEL": lambda v: parse_braced(v, 32, "MODEL"),
    "DEVICE_ID": lambda v: parse_braced(v, 31, "DEVICE_ID"),
    "FW_VER": lambda v: parse_braced(v, 24, "FW_VER"),
}
# Read at connect and on each resync; the receiver reports their changes itself.
FULL_READ = ("CHAN_NAME", "FREQUENCY", "TX_TYPE", "BATT_BARS", "BATT_CHARGE", "BATT_RUN_TIME", "BATT_TYPE",
             "RF_INT_DET", "AUDIO_GAIN", "AUDIO_MUTE", "RF_ANTENNA", "RX_RF_LVL", "AUDIO_LVL")
# Metered: no REP when they change. With metering off they are read on each poll.
METERED = ("RF_ANTENNA", "RX_RF_LVL", "AUDIO_LVL")


class ShureReceiver(Device, HasIdentity, HasWirelessChannels, HasBattery, HasRf, HasAudioLevels, HasGain,
                    HasChannelMute):
    driver: ClassVar[str] = "shure"
    transport_spec: ClassVar[TransportSpec] = TransportSpec("tcp", default_port=PORT)
    Options: ClassVar[type[BaseModel]] = ShureOptions
    options: ShureOptions

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        self.link = Link(transport, ShureFramer(), on_unsolicited=self._on_unsolicited, name=device_id)
        self.malformed = MalformedLog(log, device_id)
        self._channels: tuple[int, ...] = ()
        self._values: dict[int, dict[str, Any]] = {}
        self._unsupported: set[tuple[int, str]] = set()  # (channel, param) answered REP ERR
        self._last_resync = 0.0
        self.samples_received = 0

    # --- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        await self.link.open()
        await self._read_identity()
        for channel in self._channels:
            await self._read_channel(channel, FULL_READ)
        self._last_resync = time.monotonic()
        if self.options.metering:
            rate = meter_rate_value(self.options.meter_interval)
            for channel in self._channels:
                await self._request(encode_set("METER_RATE", rate, channel), channel, "METER_RATE")

    async def close(self) -> None:
        if self.link.is_open and self.options.metering:
            # A receiver left metering into a dead socket keeps working for nobody.
            for channel in self._channels:
                try:
                    await self.link.send(encode_set("METER_RATE", "00000", channel))
                except Exception:  # the link is going away anyway
                    break
        await self.link.close()

    async def _read_identity(self) -> None:
        model = await self._get_or_none("MODEL")
        fields = {
            "manufacturer": "Shure",
            "model": model,
            "name": await self._get_or_none("DEVICE_ID"),
            "firmware": await self._get_or_none("FW_VER"),
            "protocol": "Shure command strings",
        }
        self._set("identity", Identity(**{k: v or None for k, v in fields.items()}))
        count = self.options.channels or (channels_of_model(model) if model else None)
        self._channels = tuple(range(1, count + 1)) if count else await self._discover_channels()
        for channel in self._channels:
            self._values.setdefault(channel, {})

    async def _discover_channels(self) -> tuple[int, ...]:
        """No MODEL (older firmware): channels are those whose name can be read."""
        found = [1]
        for channel in range(2, MAX_CHANNELS + 1):
            try:
                await self._request(encode_get("CHAN_NAME", channel), channel, "CHAN_NAME")
            except (DeviceRejected, DeviceTimeout):
                break
            found.append(channel)
        return tuple(found)

    # --- requests ------------------------------------------------------------------------

    async def _request(self, wire: bytes, channel: int | None, param: str) -> Any:
        """Send a GET or SET; the REP for (channel, param) answers it, REP ERR refuses it."""

        def answer(frame: bytes) -> Any:
            try:
                message = parse_frame(frame)
            except ProtocolError:
                return None  # not the answer; on_unsolicited counts it
            if isinstance(message, ReportError):
                raise DeviceRejected(param if channel is None else f"{channel} {param}", "ERR")
            if isinstance(message, Report) and message.param == param and message.channel == channel:
                return message
            return None

        report = await self.link.request(wire, timeout=self.timeout, parse=answer, what=wire.decode())
        self._apply(report)
        return report

    async def _get_or_none(self, param: str) -> str | None:
        try:
            await self._request(encode_get(param), None, param)
        except DeviceRejected:
            return None
        return self._device_values.get(param)

    async def _read_channel(self, channel: int, params) -> None:
        for param in params:
            if (channel, param) in self._unsupported:
                continue
            try:
                await self._request(encode_get(param, channel), channel, param)
            except DeviceRejected:
                # Not on this model (QLX-D has no AUDIO_MUTE): stop asking for it.
                self._unsupported.add((channel, param))
                if param in CHANNEL_PARAMS:
                    self._publish(channel, CHANNEL_PARAMS[param])

    # --- polling -----------------------------------------------------------------------------

    async def probe(self) -> None:
        await self._request(encode_get("DEVICE_ID"), None, "DEVICE_ID")

    async def poll(self) -> None:
        if time.monotonic() - self._last_resync >= self.options.resync_interval:
            for channel in self._channels:
                await self._read_channel(channel, FULL_READ)
            self._last_resync = time.monotonic()
        elif not self.options.metering:
            for channel in self._channels:
                await self._read_channel(channel, METERED)
        else:
            await self.probe()

    # --- state from reports --------------------------------------------------------------------

    @property
    def _device_values(self) -> dict[str, Any]:
        return self._values.setdefault(0, {})

    def _on_unsolicited(self, frame: bytes) -> None:
        try:
            message = parse_frame(frame)
            if isinstance(message, ReportError):
                raise Malformed("unexpected error report", "REP ERR with no command outstanding", frame)
            self._apply(message)
        except ProtocolError as exc:
            self.malformed.note(exc)

    def _apply(self, message: Report | Sample) -> None:
        if isinstance(message, Sample):
            self._apply_sample(message)
            return
        if message.channel is None:
            parser = DEVICE_PARSERS.get(message.param)
            if parser is not None:
                self._device_values[message.param] = parser(message.value)
                self._publish_identity()
            return
        parser = CHANNEL_PARSERS.get(message.param)
        if parser is None or message.channel not in self._values:
            return  # a parameter this driver does not use, or a channel it does not know yet
        self._values[message.channel][message.param] = parser(message.value)
        if message.param in CHANNEL_PARAMS:
            self._publish(message.channel, CHANNEL_PARAMS[message.param])

    def _apply_sample(self, sample: Sample) -> None:
        values = self._values.get(sample.channel)
        if values is None:
            return
        self.samples_received += 1
        values["RF_ANTENNA"] = sample.antenna
        values["RX_RF_LVL"] = sample.rf_dbm
        values["AUDIO_LVL"] = sample.audio_dbfs
        self._publish(sample.channel, "rf")
        self._publish(sample.channel, "levels")

    def _publish_identity(self) -> None:
        identity = self.state.get("identity")
        if identity is None:
            return
        values = self._device_values
        self._set("identity", identity.model_copy(update={
            "model": values.get("MODEL") or identity.model,
            "name": values.get("DEVICE_ID") or identity.name,
            "firmware": values.get("FW_VER") or identity.firmware,
        }))

    def _publish(self, channel: int, key: str) -> None:
        v = self._values[channel]
        if key == "channels":
            value = WirelessChannel(name=v.get("CHAN_NAME", ""), frequency_khz=v.get("FREQUENCY"))
        elif key == "transmitters":
            value = v.get("TX_TYPE", Transmitter())
        elif key == "batteries":
            value = Battery(bars=v.get("BATT_BARS", "unknown"), percent=v.get("BATT_CHARGE", "unknown"),
                            minutes_left=v.get("BATT_RUN_TIME", RuntimeState.UNKNOWN),
                            type=v.get("BATT_TYPE", BatteryType.UNKNOWN))
        elif key == "rf":
            value = RfLink(antenna=v.get("RF_ANTENNA", Antenna.NONE), level_dbm=v.get("RX_RF_LVL"),
                           interference=v.get("RF_INT_DET", False))
        elif key == "levels":
            level = v.get("AUDIO_LVL")
            if level is not None:
                self._set_channel("clipping", channel, is_clipping(level))
            value = level
        elif key == "gains":
            value = v.get("AUDIO_GAIN")
        elif key == "mutes":
            if (channel, "AUDIO_MUTE") in self._unsupported:
                return
            value = v.get("AUDIO_MUTE")
        else:
            return
        if value is not None:
            self._set_channel(key, channel, value)

    def _set_channel(self, key: str, channel: int, value: Any) -> None:
        current = self.state.get(key, {})
        if current.get(channel) == value and channel in current:
            return
        self._set(key, {**current, channel: value})

    def fault_reason(self) -> str | None:
        problems = []
        transmitters, batteries, rf = (self.state.get(k, {}) for k in ("transmitters", "batteries", "rf"))
        for channel in self._channels:
            link = rf.get(channel)
            if link is not None and link.interference:
                problems.append(f"channel {channel}: RF interference")
            if not transmitters.get(channel, Transmitter()).present:
                continue  # a transmitter switched off is not a receiver fault
            if (battery := batteries.get(channel)) is not None and battery.is_flat:
                problems.append(f"channel {channel}: battery flat")
            if link is not None and (link.antenna is Antenna.NONE or (link.level_dbm or 0) < RF_DROPOUT_DBM):
                problems.append(f"channel {channel}: RF lost")
        return "; ".join(problems) or None

    # --- capabilities --------------------------------------------------------------------------

    def channel_numbers(self) -> tuple[int, ...]:
        return self._channels

    def mutable_channels(self) -> tuple[int, ...]:
        return tuple(c for c in self._channels if (c, "AUDIO_MUTE") not in self._unsupported)

    def gain_range(self, channel: int) -> GainRange:
        return GAIN

    async def set_gain(self, channel: int, db: float) -> None:
        await self._request(encode_set("AUDIO_GAIN", gain_value(db), channel), channel, "AUDIO_GAIN")

    async def set_channel_mute(self, channel: int, muted: bool) -> None:
        await self._request(encode_set("AUDIO_MUTE", "ON" if muted else "OFF", channel), channel, "AUDIO_MUTE")
