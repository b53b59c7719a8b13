"""The Shure command strings codec: ULX-D / QLX-D, SLX-D and Axient Digital receivers.

The three families share one grammar, from Shure's command strings documents (ULX-D,
SLX-D, Axient Digital): ASCII messages in angle brackets, ``< GET 1 CHAN_NAME >``
answered by ``< REP 1 CHAN_NAME {Lead Vox } >``; a channel of 0 means every channel;
string values are ``{braced and padded}``; the receiver sends ``REP`` on its own
whenever a non-metered value changes, ``REP ERR`` for a command it refuses, and
``< SAMPLE x ALL ... >`` every METER_RATE milliseconds once metering is on.

What differs is vocabulary and scale — ``BATT_BARS`` here is ``TX_BATT_BARS`` there,
RF is ``RX_RF_LVL`` (dBm + 128) on ULX-D and ``RSSI`` (dBm + 120) on SLX-D and Axient,
and each family lays out its SAMPLE differently. Those differences are data: one
``Family`` table per command set (parameter → role and parser, what to read, the
SAMPLE layout, the channel-name rule), so the device can read the table and never ask
which family it is talking to.

All of it is pure: ``ShureFramer`` cuts messages out of bytes in any chunking,
``parse_frame`` types them, the value parsers and encoders convert each parameter.
The device, on a stream transport, is ``drivers.audio.shure``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from drivers.audio.malformed import Malformed
from drivers.capabilities import Antenna, BatteryType, GainRange, RuntimeState, Transmitter
from drivers.capabilities.audio import NameRule
from drivers.errors import InvalidCommand, ProtocolError

MAX_CHANNELS = 4  # ULXD4Q, SLXD4Q+, AD4Q: four channels is the most one receiver has
# The longest message is a braced 32-character MODEL or a 31-character Dante name;
# past this many bytes without a closing ">" the peer is not speaking this protocol.
MAX_FRAME = 256
MAX_BRACED = 40  # braced strings are padded to at most 32 characters (MODEL, 31 for names)

# Metering. The command strings take 00100-99999 ms (SLX-D and Axient: up to 65535), but
# Shure recommends rates of seconds on a receiver doing real work (fast rates are a known
# cause of receivers' network stacks locking up), and its own example is 01000. The
# driver never asks for faster than this, whatever a config says.
MIN_METER_INTERVAL = 1.0
MAX_METER_INTERVAL = 99.999

GAIN = GainRange(min_db=-18.0, max_db=42.0, step_db=1.0)  # AUDIO_GAIN 000-060 = value - 18 dB, all three families
GAIN_OFFSET = 18
RF_OFFSET = 128      # ULX-D RX_RF_LVL / SAMPLE aaa: dBm = value - 128
AUDIO_OFFSET = 50    # ULX-D AUDIO_LVL / SAMPLE eee: dBFS = value - 50
LEVEL_OFFSET = 120   # SLX-D and Axient RSSI, AUDIO_LEVEL_RMS, AUDIO_LEVEL_PEAK: dB = value - 120

# Channel names as the command strings documents allow them: A-Z a-z 0-9, space and
# !"#$%&'()*+,-./:;<=>?@[\]^_`~ . We never send "<" or ">": a reader that cuts messages
# at ">" (Micboard, the Companion module, line-splitting control systems) would cut
# the name, and the braces are framing, not text.
NAME_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"#$%&'()*+,-./:;=?@[\\]^_`~")

# --- framing -----------------------------------------------------------------------------

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


# --- messages ----------------------------------------------------------------------------


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
    """``< SAMPLE x ALL ... >``: one channel's meters, in the family's own layout.

    ``antenna`` is None where the layout does not say (SLX-D's SAMPLE carries one
    combined RSSI); ``peak_dbfs`` is None where the family meters one level (ULX-D).
    """

    channel: int
    antenna: Antenna | None
    rf_dbm: int
    audio_dbfs: int
    peak_dbfs: int | None = None


Message = Report | ReportError | Sample

_PARAM = re.compile(r"[A-Z][A-Z0-9_]*")


def parse_frame(frame: bytes, family: "Family | None" = None) -> Message:
    """One framed message → a typed message; anything else raises ``Malformed``.

    REP is the same in every family; a SAMPLE is read with ``family``'s layout (ULX-D
    when none is given).
    """
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
        return _parse_sample(rest.split(), frame, family or ULXD)
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


def _parse_sample(words: list[str], frame: bytes, family: "Family") -> Sample:
    if len(words) < 2 or words[1] != "ALL":
        raise Malformed("bad sample", f"expected SAMPLE x ALL {family.sample.shape}", frame)
    channel = _channel(words[0], frame)
    try:
        return family.sample.parse(channel, words[2:])
    except Malformed as exc:
        raise Malformed("bad sample", exc.detail, frame) from None


def _channel(text: str, frame: bytes) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_CHANNELS:
        raise Malformed("bad channel", f"channel {text!r} is not 1-{MAX_CHANNELS}", frame)
    return int(text)


# --- values ------------------------------------------------------------------------------


def _number(value: str, digits: int, low: int, high: int, what: str) -> int:
    if not value.isdigit() or len(value) > digits:
        raise Malformed("bad value", f"{what} {value!r} is not a {digits}-digit number")
    number = int(value)
    if not low <= number <= high:
        raise Malformed("value out of range", f"{what} {number} is outside {low}-{high}")
    return number


def _up_to_or_unknown(value: str, high: int, what: str) -> int | str:
    """Three digits, 0-``high``, or 255 for "unknown" (the receiver's sentinel)."""
    number = _number(value, 3, 0, 255, what)
    if number == 255:
        return "unknown"
    if number > high:
        raise Malformed("value out of range", f"{what} {number} is not 0-{high} or 255")
    return number


def parse_battery_bars(value: str, what: str = "BATT_BARS") -> int | str:
    """BATT_BARS / TX_BATT_BARS 000-005; 255 = unknown (no transmitter, or it does not say)."""
    return _up_to_or_unknown(value, 5, what)


def parse_battery_percent(value: str, what: str = "BATT_CHARGE") -> int | str:
    """BATT_CHARGE / TX_BATT_CHARGE_PERCENT 000-100 percent; 255 = unknown."""
    return _up_to_or_unknown(value, 100, what)


RUNTIME_SENTINELS = {65535: RuntimeState.UNKNOWN, 65534: RuntimeState.CALCULATING, 65533: RuntimeState.COMM_ERROR}


def parse_battery_runtime(value: str, what: str = "BATT_RUN_TIME") -> int | RuntimeState:
    """BATT_RUN_TIME / TX_BATT_MINS minutes 00000-65532; 65533 comm error, 65534 calculating, 65535 unknown."""
    number = _number(value, 5, 0, 65535, what)
    return RUNTIME_SENTINELS.get(number, number)


BATTERY_TYPES = {
    "ALKA": BatteryType.ALKALINE, "LION": BatteryType.LITHIUM_ION, "LITH": BatteryType.LITHIUM,
    "NIMH": BatteryType.NIMH, "WARN": BatteryType.WARNING, "UNKN": BatteryType.UNKNOWN,
}


def parse_battery_type(value: str, what: str = "BATT_TYPE") -> BatteryType:
    try:
        return BATTERY_TYPES[value]
    except KeyError:
        raise Malformed("bad value", f"{what} {value!r} is not one of {', '.join(BATTERY_TYPES)}") from None


# ULX-D and QLX-D say UNKN when no transmitter is on; SLX-D and Axient say UNKNOWN.
NO_TRANSMITTER = ("UNKN", "UNKNOWN")


def parse_transmitter(value: str, what: str = "TX_TYPE") -> Transmitter:
    """TX_TYPE / TX_MODEL: the transmitter's model (ULXD2, SLXD1, ADX2FD...), UNKN(OWN) when none is on."""
    if value in NO_TRANSMITTER:
        return Transmitter(present=False)
    if not re.fullmatch(r"[A-Z0-9+]{2,16}", value):
        raise Malformed("bad value", f"{what} {value!r} is not a transmitter model")
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
    """FREQUENCY in kHz: six digits on ULX-D (``578350`` = 578.350 MHz), seven on SLX-D and Axient (``0578350``)."""
    if not value.isdigit() or len(value) not in (6, 7):
        raise Malformed("bad value", f"FREQUENCY {value!r} is not 6 or 7 digits of kHz")
    return int(value)


ANTENNAS = {"AX": Antenna.A, "XB": Antenna.B, "AB": Antenna.BOTH, "XX": Antenna.NONE}


def parse_antenna(value: str) -> Antenna:
    """ULX-D RF_ANTENNA / SAMPLE nn: which diversity antenna LEDs are lit (AX, XB, AB, XX)."""
    try:
        return ANTENNAS[value]
    except KeyError:
        raise Malformed("bad value", f"antenna {value!r} is not one of AX, XB, AB, XX") from None


def antenna_of(hearing: set[int]) -> Antenna:
    """Antennas that carry the link (1 = A, 2 = B, 3 and 4 on Quadversity) → the capability's value.

    The capability has the two diversity branches; Quadversity's third and fourth
    antennas count as "both" because more than one branch is then in use.
    """
    if not hearing:
        return Antenna.NONE
    if hearing == {1}:
        return Antenna.A
    if hearing == {2}:
        return Antenna.B
    return Antenna.BOTH


def antenna_flags(value: str) -> tuple[bool, ...]:
    """ANTENNA_STATUS, one letter per antenna: X off; B (blue) or R (red) lit on Axient,
    A or B (which antenna) on SLX-D+. Two letters, or four with Quadversity on."""
    if len(value) not in (2, 4) or not set(value) <= set("ABRX"):
        raise Malformed("bad value", f"ANTENNA_STATUS {value!r} is not 2 or 4 of A, B, R, X")
    return tuple(letter != "X" for letter in value)


def parse_antenna_status(value: str) -> Antenna:
    return antenna_of({i for i, lit in enumerate(antenna_flags(value), start=1) if lit})


def parse_rf_level(value: str) -> int:
    """ULX-D RX_RF_LVL / SAMPLE aaa: 000-255, dBm = value - 128."""
    return _number(value, 3, 0, 255, "RF level") - RF_OFFSET


def parse_audio_level(value: str) -> int:
    """ULX-D AUDIO_LVL / SAMPLE eee: 000-255, dBFS = value - 50 (000-050 is -50…0 dBFS)."""
    return _number(value, 3, 0, 255, "audio level") - AUDIO_OFFSET


def parse_level(value: str, what: str = "level") -> int:
    """SLX-D and Axient RSSI, AUDIO_LEVEL_RMS, AUDIO_LEVEL_PEAK: 000-120, dB(m/FS) = value - 120."""
    return _number(value, 3, 0, 120, what) - LEVEL_OFFSET


def parse_rssi(value: str) -> tuple[int | None, int]:
    """RSSI → (antenna, dBm). ``< GET x RSSI 0 >`` is answered once per antenna,
    ``< REP x RSSI 1 083 >``; a combined reading has no antenna number (``RSSI 096``)."""
    words = value.split()
    if len(words) == 1:
        return None, parse_level(words[0], "RSSI")
    if len(words) == 2:
        return _number(words[0], 1, 1, 4, "RSSI antenna"), parse_level(words[1], "RSSI")
    raise Malformed("bad value", f"RSSI {value!r} is not [antenna] level")


def parse_flag(value: str, *, off: str, on: str, what: str) -> bool:
    """A two-valued status: ULX-D RF_INT_DET NONE / CRITICAL, Axient INTERFERENCE_STATUS NONE / DETECTED."""
    if value not in (off, on):
        raise Malformed("bad value", f"{what} {value!r} is not {off} or {on}")
    return value == on


def parse_interference(value: str) -> bool:
    """ULX-D RF_INT_DET: NONE, or CRITICAL when interference is detected on the channel."""
    return parse_flag(value, off="NONE", on="CRITICAL", what="RF_INT_DET")


def parse_meter_rate(value: str) -> float:
    """METER_RATE in ms (5 digits), 0 = off → seconds."""
    return _number(value, 5, 0, 99999, "METER_RATE") / 1000


def parse_quality(value: str) -> int | None:
    """Axient CHAN_QUALITY / SAMPLE qual: 0-5, 255 = unknown."""
    number = _number(value, 3, 0, 255, "quality")
    if number == 255:
        return None
    if number > 5:
        raise Malformed("value out of range", f"quality {number} is not 0-5 or 255")
    return number


def _encode(verb: str, channel: int | None, param: str, *values: str | None) -> bytes:
    parts = ["<", verb]
    if channel is not None:
        parts.append(str(channel))
    parts.append(param)
    parts.extend(v for v in values if v is not None)
    parts.append(">")
    return " ".join(parts).encode("ascii")


def encode_get(param: str, channel: int | None = None, argument: str | None = None) -> bytes:
    """``< GET 1 BATT_BARS >``; device-level parameters have no channel: ``< GET FW_VER >``;
    a few take an argument: ``< GET 1 RSSI 0 >`` (every antenna)."""
    return _encode("GET", channel, param, argument)


def encode_set(param: str, value: str, channel: int | None = None) -> bytes:
    return _encode("SET", channel, param, value)


def gain_value(db: float) -> str:
    """-18…+42 dB in 1 dB steps → ``000``-``060``."""
    steps = db + GAIN_OFFSET
    if steps != int(steps) or not 0 <= steps <= 60:
        raise InvalidCommand(f"gain {db:g} dB is not a whole dB in -18…+42", field="db")
    return f"{int(steps):03d}"


def meter_rate_value(seconds: float, max_ms: int = 99999) -> str:
    """Seconds → METER_RATE milliseconds, never faster than the floor; 0 turns metering off."""
    if seconds == 0:
        return "00000"
    if not MIN_METER_INTERVAL <= seconds <= MAX_METER_INTERVAL or round(seconds * 1000) > max_ms:
        high = min(MAX_METER_INTERVAL, max_ms / 1000)
        raise InvalidCommand(f"meter interval {seconds:g} s is outside {MIN_METER_INTERVAL:g}…{high:g} s")
    return f"{round(seconds * 1000):05d}"


def name_value(name: str, rule: NameRule) -> str:
    """A channel name → ``{Lead Vox}``, refused (InvalidCommand, field "name") unless the family takes it."""
    return "{" + rule.check(name) + "}"


_MODEL_CHANNELS = re.compile(r"(?:ULXD|QLXD|SLXD|AD)4([DQ]?)")


def channels_of_model(model: str) -> int | None:
    """ULXD4 → 1, ULXD4D / SLXD4D / AD4D → 2 (Dual), ULXD4Q / AD4Q / SLXD4Q+ → 4 (Quad);
    None for a name we cannot read."""
    if not re.fullmatch(r"[A-Z0-9+\-]+", model):
        return None
    if found := _MODEL_CHANNELS.match(model.replace("-", "")):
        return {"": 1, "D": 2, "Q": 4}[found.group(1)]
    return 4 if model.endswith("Q") else 2 if model.endswith("D") and not model.endswith("4") else 1


# --- the families ------------------------------------------------------------------------
#
# Where the project's note (shared/protocols/shure.md) and the command strings documents
# differ, these tables follow the documents: the note's TX_TYPE / BATT_* / RX_RF_LVL /
# AUDIO_LVL / RF_INT_DET names and 6-digit FREQUENCY are ULX-D's only — SLX-D and Axient
# say TX_MODEL (UNKNOWN, not UNKN), TX_BATT_BARS / TX_BATT_MINS (SLX-D has no charge or
# battery type; Axient adds TX_BATT_CHARGE_PERCENT / TX_BATT_TYPE), RSSI and
# AUDIO_LEVEL_RMS / _PEAK at value - 120, 7-digit FREQUENCY, INTERFERENCE_STATUS
# NONE/DETECTED (Axient; SLX-D reports none), ANTENNA_STATUS letters (Axient), and
# METER_RATE up to 65535. ULX-D's RF_ANTENNA values are AX, XB, AB, XX (the note's "BX"
# is not among them); ULX-D and QLX-D have no MODEL parameter, so a refused MODEL means
# their command set.

# What a SAMPLE field is, by the name a layout gives it.
SAMPLE_FIELDS: dict[str, Callable[[str], Any]] = {
    "antenna": parse_antenna,                                        # ULX-D nn: AX, XB, AB, XX
    "rf": parse_rf_level,                                            # ULX-D aaa: dBm + 128
    "audio": parse_audio_level,                                      # ULX-D eee: dBFS + 50
    "peak": partial(parse_level, what="audio peak"),                 # dBFS + 120
    "rms": partial(parse_level, what="audio RMS"),                   # dBFS + 120
    "rssi": partial(parse_level, what="RSSI"),                       # dBm + 120
    "quality": parse_quality,                                        # Axient: 0-5, 255
    "audio_bitmap": partial(_number, digits=3, low=0, high=255, what="audio LED bitmap"),
    "rf_bitmap": partial(_number, digits=3, low=0, high=255, what="RF LED bitmap"),
}


@dataclass(frozen=True)
class SampleLayout:
    """The fields of ``< SAMPLE x ALL ... >`` after ALL, named as in SAMPLE_FIELDS.

    ``antenna_group`` (Axient): after the head come an ANTENNA_STATUS-style letters
    field and then this group once per letter — so a Quadversity receiver's four
    antennas need no other layout; FD-C appends a second such section (``sections``).
    """

    head: tuple[str, ...]
    antenna_group: tuple[str, ...] = ()
    sections: int = 1

    @property
    def shape(self) -> str:
        group = f" ANTENNAS ({' '.join(self.antenna_group)})…" if self.antenna_group else ""
        return " ".join(self.head) + group

    def parse(self, channel: int, tokens: list[str]) -> Sample:
        if len(tokens) < len(self.head) or (not self.antenna_group and len(tokens) != len(self.head)):
            raise Malformed("bad sample", f"expected {self.shape}, got {len(tokens)} fields")
        head = {name: SAMPLE_FIELDS[name](token) for name, token in zip(self.head, tokens)}
        antenna, rf_dbm = head.get("antenna"), head.get("rf", head.get("rssi"))
        if self.antenna_group:
            antenna, rf_dbm = self._antenna_sections(tokens[len(self.head):])
        if rf_dbm is None or ("audio" not in head and "rms" not in head):
            raise Malformed("bad sample", f"layout {self.shape} has no RF or audio level")
        return Sample(channel, antenna, rf_dbm, head.get("audio", head.get("rms")), head.get("peak"))

    def _antenna_sections(self, rest: list[str]) -> tuple[Antenna, int]:
        hearing: set[int] = set()
        rssi: list[int] = []
        sections = 0
        while rest:
            flags = antenna_flags(rest[0])
            size = 1 + len(self.antenna_group) * len(flags)
            if len(rest) < size or sections == self.sections:
                raise Malformed("bad sample", f"expected {self.shape}, got {len(rest)} fields after the levels")
            for i, token in enumerate(rest[1:size]):
                name = self.antenna_group[i % len(self.antenna_group)]
                value = SAMPLE_FIELDS[name](token)
                if name == "rssi":
                    rssi.append(value)
            hearing |= {i for i, lit in enumerate(flags, start=1) if lit}
            rest, sections = rest[size:], sections + 1
        if not sections:
            raise Malformed("bad sample", f"expected {self.shape}: no antenna section")
        return antenna_of(hearing), max(rssi)


class Read(NamedTuple):
    """One GET: ``< GET x PARAM [argument] >``."""

    param: str
    argument: str | None = None


@dataclass(frozen=True)
class Family:
    """One command set: names, value codecs and SAMPLE layout, as data.

    ``channel_params`` maps each channel parameter the driver uses to the role it fills
    (see ROLE_STATE) and its value parser; parameters not listed are valid but unused.
    """

    key: str
    label: str
    model_prefixes: tuple[str, ...]
    channel_params: Mapping[str, tuple[str, Callable[[str], Any]]]
    full_read: tuple[Read, ...]        # at connect and on each resync; the receiver REPs their changes
    metered_read: tuple[Read, ...]     # metered values (no REP on change), read on each poll when metering is off
    sample: SampleLayout
    name_rule: NameRule                # what SET x CHAN_NAME takes
    mute_param: str | None             # None: the family has no mute
    metering_poll: tuple[Read, ...] = ()   # read on each poll even with metering on: what SAMPLE leaves out
    antenna_from_rssi: bool = False    # which antennas carry the link comes from per-antenna RSSI
    meter_rate_max_ms: int = 99999
    gain: GainRange = GAIN


def _reads(*params: str) -> tuple[Read, ...]:
    return tuple(Read(*p.split(" ", 1)) for p in params)


# Shure's "ULX-D Command Strings" (QLX-D uses the same set, less AUDIO_MUTE).
ULXD = Family(
    key="ulxd",
    label="ULX-D / QLX-D",
    model_prefixes=("ULXD", "QLXD"),
    channel_params={
        "CHAN_NAME": ("name", partial(parse_braced, limit=31, what="CHAN_NAME")),
        "FREQUENCY": ("frequency", parse_frequency),
        "TX_TYPE": ("transmitter", parse_transmitter),
        "BATT_BARS": ("battery_bars", parse_battery_bars),
        "BATT_CHARGE": ("battery_percent", parse_battery_percent),
        "BATT_RUN_TIME": ("battery_minutes", parse_battery_runtime),
        "BATT_TYPE": ("battery_type", parse_battery_type),
        "RF_ANTENNA": ("antenna", parse_antenna),
        "RX_RF_LVL": ("rf_level", parse_rf_level),
        "RF_INT_DET": ("interference", parse_interference),
        "AUDIO_LVL": ("audio_level", parse_audio_level),
        "AUDIO_GAIN": ("gain", parse_gain),
        "AUDIO_MUTE": ("mute", partial(parse_on_off, what="AUDIO_MUTE")),
        "METER_RATE": ("meter_rate", parse_meter_rate),
    },
    full_read=_reads("CHAN_NAME", "FREQUENCY", "TX_TYPE", "BATT_BARS", "BATT_CHARGE", "BATT_RUN_TIME", "BATT_TYPE",
                     "RF_INT_DET", "AUDIO_GAIN", "AUDIO_MUTE", "RF_ANTENNA", "RX_RF_LVL", "AUDIO_LVL"),
    metered_read=_reads("RF_ANTENNA", "RX_RF_LVL", "AUDIO_LVL"),
    sample=SampleLayout(head=("antenna", "rf", "audio")),      # < SAMPLE x ALL nn aaa eee >
    name_rule=NameRule(max_length=8, characters=NAME_CHARACTERS),
    mute_param="AUDIO_MUTE",
)

# Shure's "SLX-D Command Strings". The transmitter's figures are TX_-prefixed and fewer:
# bars and minutes, no charge percent or battery type; no mute, no interference report.
# RF is RSSI (dBm + 120): per antenna when asked (< GET x RSSI 0 > → one REP per
# antenna), combined in SAMPLE, which also carries no antenna field — so the antennas
# that hear the transmitter are read on each poll.
SLXD = Family(
    key="slxd",
    label="SLX-D",
    model_prefixes=("SLXD",),
    channel_params={
        "CHAN_NAME": ("name", partial(parse_braced, limit=31, what="CHAN_NAME")),
        "FREQUENCY": ("frequency", parse_frequency),
        "TX_MODEL": ("transmitter", partial(parse_transmitter, what="TX_MODEL")),
        # Bitfocus' module lists TX_TYPE for the original SLX-D; the command strings say TX_MODEL.
        "TX_TYPE": ("transmitter", parse_transmitter),
        "TX_BATT_BARS": ("battery_bars", partial(parse_battery_bars, what="TX_BATT_BARS")),
        "TX_BATT_MINS": ("battery_minutes", partial(parse_battery_runtime, what="TX_BATT_MINS")),
        "RSSI": ("rssi", parse_rssi),
        "ANTENNA_STATUS": ("antenna", parse_antenna_status),  # SLX-D+ only: reported, never asked for
        "AUDIO_LEVEL_RMS": ("audio_level", partial(parse_level, what="AUDIO_LEVEL_RMS")),
        "AUDIO_LEVEL_PEAK": ("audio_peak", partial(parse_level, what="AUDIO_LEVEL_PEAK")),
        "AUDIO_GAIN": ("gain", parse_gain),
        "METER_RATE": ("meter_rate", parse_meter_rate),
    },
    full_read=_reads("CHAN_NAME", "FREQUENCY", "TX_MODEL", "TX_BATT_BARS", "TX_BATT_MINS", "AUDIO_GAIN",
                     "RSSI 0", "AUDIO_LEVEL_RMS", "AUDIO_LEVEL_PEAK"),
    metered_read=_reads("RSSI 0", "AUDIO_LEVEL_RMS", "AUDIO_LEVEL_PEAK"),
    metering_poll=_reads("RSSI 0"),
    sample=SampleLayout(head=("peak", "rms", "rssi")),         # < SAMPLE x ALL ppp rrr sss >
    # REP pads names to 31 characters, but SET takes the 8 the front panel shows.
    name_rule=NameRule(max_length=8, characters=NAME_CHARACTERS),
    mute_param=None,
    antenna_from_rssi=True,
    meter_rate_max_ms=65535,
)

# Shure's "Axient Digital Command Strings" (AD4D, AD4Q; ADX and AD transmitters).
AXIENT = Family(
    key="axient",
    label="Axient Digital",
    model_prefixes=("AD4",),
    channel_params={
        "CHAN_NAME": ("name", partial(parse_braced, limit=31, what="CHAN_NAME")),
        "FREQUENCY": ("frequency", parse_frequency),
        "TX_MODEL": ("transmitter", partial(parse_transmitter, what="TX_MODEL")),
        "TX_BATT_BARS": ("battery_bars", partial(parse_battery_bars, what="TX_BATT_BARS")),
        "TX_BATT_CHARGE_PERCENT": ("battery_percent", partial(parse_battery_percent, what="TX_BATT_CHARGE_PERCENT")),
        "TX_BATT_MINS": ("battery_minutes", partial(parse_battery_runtime, what="TX_BATT_MINS")),
        "TX_BATT_TYPE": ("battery_type", partial(parse_battery_type, what="TX_BATT_TYPE")),
        "ANTENNA_STATUS": ("antenna", parse_antenna_status),
        "RSSI": ("rssi", parse_rssi),
        "INTERFERENCE_STATUS": ("interference",
                                partial(parse_flag, off="NONE", on="DETECTED", what="INTERFERENCE_STATUS")),
        "AUDIO_LEVEL_RMS": ("audio_level", partial(parse_level, what="AUDIO_LEVEL_RMS")),
        "AUDIO_LEVEL_PEAK": ("audio_peak", partial(parse_level, what="AUDIO_LEVEL_PEAK")),
        "AUDIO_GAIN": ("gain", parse_gain),
        "AUDIO_MUTE": ("mute", partial(parse_on_off, what="AUDIO_MUTE")),
        "METER_RATE": ("meter_rate", parse_meter_rate),
    },
    full_read=_reads("CHAN_NAME", "FREQUENCY", "TX_MODEL", "TX_BATT_BARS", "TX_BATT_CHARGE_PERCENT", "TX_BATT_MINS",
                     "TX_BATT_TYPE", "INTERFERENCE_STATUS", "AUDIO_GAIN", "AUDIO_MUTE", "ANTENNA_STATUS", "RSSI 0",
                     "AUDIO_LEVEL_RMS", "AUDIO_LEVEL_PEAK"),
    metered_read=_reads("ANTENNA_STATUS", "RSSI 0", "AUDIO_LEVEL_RMS", "AUDIO_LEVEL_PEAK"),
    # < SAMPLE x ALL qual audBitmap audPeak audRms antStatus (rfBitmap rssi)×antennas [FD-C: again] >
    sample=SampleLayout(head=("quality", "audio_bitmap", "peak", "rms"), antenna_group=("rf_bitmap", "rssi"),
                        sections=2),
    name_rule=NameRule(max_length=31, characters=NAME_CHARACTERS),
    mute_param="AUDIO_MUTE",
    meter_rate_max_ms=65535,
)

FAMILIES: dict[str, Family] = {f.key: f for f in (ULXD, SLXD, AXIENT)}


def family_of_model(model: str | None) -> Family | None:
    """The command set a MODEL reply names (``SLXD4D`` → SLX-D, ``AD4Q`` → Axient), None if unknown."""
    if not model:
        return None
    compact = re.sub(r"[^A-Z0-9]", "", model.upper())
    for family in FAMILIES.values():
        if compact.startswith(family.model_prefixes):
            return family
    return None


# The state each role feeds (RSSI feeds RF through the per-antenna levels).
ROLE_STATE = {
    "name": "channels", "frequency": "channels",
    "transmitter": "transmitters",
    "battery_bars": "batteries", "battery_percent": "batteries", "battery_minutes": "batteries",
    "battery_type": "batteries",
    "antenna": "rf", "rf_level": "rf", "rssi": "rf", "interference": "rf",
    "audio_level": "levels", "audio_peak": "levels",
    "gain": "gains",
    "mute": "mutes",
}

# Device-level parameters (no channel), named alike in every family; ULX-D and QLX-D refuse MODEL.
DEVICE_PARSERS = {
    "MODEL": lambda v: parse_braced(v, 32, "MODEL"),
    "DEVICE_ID": lambda v: parse_braced(v, 31, "DEVICE_ID"),
    "FW_VER": lambda v: parse_braced(v, 24, "FW_VER"),
}
