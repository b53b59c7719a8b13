"""PJLink class 1 and class 2 (JBMIA) over TCP 4352, search over UDP 4352.

The codec half is pure: ``encode``, ``parse_greeting``, ``parse_reply`` and the typed
value parsers. The device half is ``PjlinkProjector`` on an injected stream transport.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import socket
from dataclasses import dataclass
from collections.abc import Awaitable
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from drivers.capabilities import (
    AVMute,
    ErrorStatus,
    HasAVMute,
    HasErrorStatus,
    HasFilter,
    HasFreeze,
    HasIdentity,
    HasInputs,
    HasLamps,
    HasPower,
    Identity,
    Lamp,
    Level,
    Power,
)
from drivers.device import Device, TransportSpec
from drivers.errors import AuthFailed, DeviceBusy, DeviceRejected, InvalidCommand, ProtocolError
from drivers.link import Link
from drivers.transports.framing import LineFramer

PORT = 4352
# A reply is at most 136 bytes (spec §4); allow slack before calling a peer runaway.
MAX_FRAME = 512

# --- codec ---------------------------------------------------------------------------

# A projector polled every few seconds answers the same few lines over and over; the
# parsed values are immutable, so each distinct line is parsed once.
POLL_CACHE = 512

ERRORS = {
    "ERR1": "undefined command",
    "ERR2": "out of parameter",
    "ERR3": "unavailable time",
    "ERR4": "projector/display failure",
}

POWER = {"0": Power.OFF, "1": Power.ON, "2": Power.COOLING_DOWN, "3": Power.WARMING_UP}

INPUT_TYPES = {"1": "rgb", "2": "video", "3": "digital", "4": "storage", "5": "network", "6": "internal"}
INPUT_CODES = {name: code for code, name in INPUT_TYPES.items()}
_INPUT_NAME = re.compile(r"^(rgb|video|digital|storage|network|internal)([1-9a-z])$")
_BODY = re.compile(r"[A-Z0-9]{4}")
_PARAM = re.compile(r"[\x20-\x7e]{1,128}")
_REPLY = re.compile(r"%([12])([A-Z0-9]{4})=(.{0,128})")
_AUTH_GREETING = re.compile(r"PJLINK 1 ([0-9A-Za-z]{8})")
_INPUT_NUMBER = re.compile(r"[1-9A-Z]")

# AVMT: first digit what (1 video, 2 audio, 3 both), second digit off/on.
AVMT_STATES = {
    "30": AVMute(video=False, audio=False),
    "11": AVMute(video=True, audio=False),
    "21": AVMute(video=False, audio=True),
    "31": AVMute(video=True, audio=True),
    # Some projectors report the single-channel "off" codes; both mean nothing of that kind muted.
    "10": AVMute(video=False, audio=False),
    "20": AVMute(video=False, audio=False),
}

NO_SIGNAL = "-"  # IRES: the selected input carries no signal

ERST_ORDER = ("fan", "lamp", "temperature", "cover", "filter", "other")
ERST_LEVELS = {"0": Level.OK, "1": Level.WARNING, "2": Level.ERROR}


@dataclass(frozen=True, slots=True)
class Request:
    body: str  # four letters, e.g. "POWR"
    param: str = "?"
    pjlink_class: int = 1

    def __post_init__(self) -> None:
        if not _BODY.fullmatch(self.body):
            raise InvalidCommand(f"not a PJLink command body: {self.body!r}")
        if not _PARAM.fullmatch(self.param):
            raise InvalidCommand(f"PJLink parameters are 1–128 printable ASCII characters: {self.param!r}")
        if self.pjlink_class not in (1, 2):
            raise InvalidCommand(f"PJLink class is 1 or 2, not {self.pjlink_class}")


@dataclass(frozen=True, slots=True)
class Reply:
    body: str
    value: str
    pjlink_class: int

    @property
    def error(self) -> str | None:
        return self.value if self.value in ERRORS else None


@dataclass(frozen=True, slots=True)
class Greeting:
    auth_random: str | None  # None: the projector asks for no authentication


@functools.cache
def _query_request(body: str, pjlink_class: int) -> Request:
    """Queries are few and asked over and over: validate each once."""
    return Request(body, "?", pjlink_class)


@functools.lru_cache(maxsize=256)
def _encoded(request: Request) -> bytes:
    return encode(request)


def encode(request: Request, *, digest: str = "") -> bytes:
    """`%1POWR 1\\r`, with the authentication digest in front of a connection's first command."""
    return f"{digest}%{request.pjlink_class}{request.body} {request.param}\r".encode("ascii")


def auth_digest(random: str, password: str) -> str:
    """MD5 of the projector's random followed by the password, 32 lowercase hex (spec §5.1)."""
    return hashlib.md5((random + password).encode("utf-8")).hexdigest()


def parse_greeting(frame: bytes) -> Greeting:
    text = _ascii(frame)
    if text == "PJLINK 0":
        return Greeting(None)
    if m := _AUTH_GREETING.fullmatch(text):
        return Greeting(m.group(1))
    if text == "PJLINK ERRA":
        raise AuthFailed("projector refused the password (PJLINK ERRA)")
    raise ProtocolError("not a PJLink greeting", frame)


@functools.lru_cache(maxsize=POLL_CACHE)
def parse_reply(frame: bytes) -> Reply:
    """`%1POWR=1` → Reply("POWR", "1", 1). `PJLINK ERRA` raises AuthFailed."""
    text = _ascii(frame)
    if text == "PJLINK ERRA":
        raise AuthFailed("projector refused the password (PJLINK ERRA)")
    m = _REPLY.fullmatch(text)
    if not m:
        raise ProtocolError("not a PJLink reply", frame)
    return Reply(body=m.group(2), value=m.group(3), pjlink_class=int(m.group(1)))


def parse_power(value: str) -> Power:
    try:
        return POWER[value]
    except KeyError:
        raise ProtocolError(f"POWR value {value!r} is not 0–3") from None


@functools.lru_cache(maxsize=POLL_CACHE)
def input_name(code: str) -> str:
    """`31` → `digital1`; class 2 numbers run 1–9 then A–Z (`3A` → `digitala`)."""
    if len(code) != 2 or code[0] not in INPUT_TYPES or not _INPUT_NUMBER.fullmatch(code[1]):
        raise ProtocolError(f"not a PJLink input {code!r}")
    return INPUT_TYPES[code[0]] + code[1].lower()


def input_code(name: str) -> str:
    m = _INPUT_NAME.fullmatch(name)
    if not m:
        raise InvalidCommand(f"not a PJLink input name: {name!r} (e.g. rgb1, digital1, network1)", field="input")
    return INPUT_CODES[m.group(1)] + m.group(2).upper()


def parse_inputs(value: str) -> tuple[str, ...]:
    return tuple(input_name(code) for code in value.split())


def parse_av_mute(value: str) -> AVMute:
    try:
        return AVMT_STATES[value]
    except KeyError:
        raise ProtocolError(f"AVMT value {value!r} is not one of 30, 11, 21, 31") from None


@functools.lru_cache(maxsize=POLL_CACHE)
def parse_error_status(value: str) -> ErrorStatus:
    if len(value) != 6 or any(c not in ERST_LEVELS for c in value):
        raise ProtocolError(f"ERST value {value!r} is not six digits 0–2")
    # Every value comes from ERST_LEVELS, so the model needs no second validation (polled often).
    return ErrorStatus.model_construct(**{name: ERST_LEVELS[c] for name, c in zip(ERST_ORDER, value)})


@functools.lru_cache(maxsize=POLL_CACHE)
def parse_lamps(value: str) -> tuple[Lamp, ...]:
    """`1500 1 200 0` → two lamps: hours and whether lit (up to 8 lamps)."""
    parts = value.split()
    if not parts or len(parts) % 2 or len(parts) > 16:
        raise ProtocolError(f"LAMP value {value!r} is not pairs of hours and on-flag")
    lamps = []
    for hours, flag in zip(parts[::2], parts[1::2]):
        if not hours.isdigit() or len(hours) > 5 or flag not in ("0", "1"):
            raise ProtocolError(f"LAMP value {value!r} is not pairs of hours and on-flag")
        lamps.append(Lamp.model_construct(hours=int(hours), on=flag == "1"))
    return tuple(lamps)


def parse_hours(value: str) -> int:
    if not value.isdigit() or len(value) > 6:
        raise ProtocolError(f"hours value {value!r} is not a number")
    return int(value)


def parse_text(value: str, limit: int) -> str:
    if len(value) > limit:
        raise ProtocolError(f"text longer than {limit} characters: {value[:40]!r}")
    return value


def _ascii(frame: bytes) -> str:
    try:
        return frame.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("non-ASCII bytes in a PJLink line", frame) from None


# --- device --------------------------------------------------------------------------


class PjlinkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: SecretStr | None = None
    # How long a command refused with ERR3 while warming up or cooling down is retried.
    busy_retry_for: float = Field(60.0, ge=0, le=600)


class PjlinkProjector(Device, HasPower, HasInputs, HasAVMute, HasFreeze, HasLamps, HasFilter, HasErrorStatus, HasIdentity):
    driver: ClassVar[str] = "pjlink"
    transport_spec: ClassVar[TransportSpec] = TransportSpec("tcp", default_port=PORT)
    Options: ClassVar[type[BaseModel]] = PjlinkOptions
    options: PjlinkOptions

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        self.link = Link(transport, LineFramer(b"\r", max_frame=MAX_FRAME), name=device_id)
        self._digest = ""  # owed in front of the connection's first command
        self.pjlink_class = 1

    # --- connection ---------------------------------------------------------------

    async def connect(self) -> None:
        await self.link.open()
        greeting = parse_greeting(await self.link.receive(timeout=self.timeout, what="PJLink greeting"))
        self._digest = ""
        if greeting.auth_random is not None:
            if self.options.password is None:
                raise AuthFailed("projector asks for a password and none is configured")
            self._digest = auth_digest(greeting.auth_random, self.options.password.get_secret_value())
        if "identity" not in self.state:
            await self._read_identity()

    async def close(self) -> None:
        await self.link.close()

    async def _read_identity(self) -> None:
        clss = await self._query("CLSS")
        self.pjlink_class = 2 if clss.strip() == "2" else 1
        fields = {
            "name": parse_text(await self._query("NAME"), 64),
            "manufacturer": parse_text(await self._query("INF1"), 32),
            "model": parse_text(await self._query("INF2"), 32),
            "other": parse_text(await self._query("INFO"), 32),
            "protocol": f"PJLink class {self.pjlink_class}",
        }
        if self.pjlink_class == 2:
            fields["serial_number"] = parse_text(await self._query("SNUM", pjlink_class=2), 32)
            fields["firmware"] = parse_text(await self._query("SVER", pjlink_class=2), 32)
        inputs = parse_inputs(await self._query("INST", pjlink_class=self.pjlink_class))
        self._set("inputs", inputs)
        self._set("identity", Identity(**{k: v or None for k, v in fields.items()}))

    # --- requests -------------------------------------------------------------------

    def _request(self, request: Request, *, value_only: bool = False) -> Awaitable[Reply | str]:
        """The answer to one request (its value alone with ``value_only``): ERR3 raises DeviceBusy."""
        if self._digest:  # owed in front of the connection's first command only
            wire, self._digest = encode(request, digest=self._digest), ""
        else:
            wire = _encoded(request)
        body = request.body

        def answer(frame: bytes) -> Reply | str | None:
            reply = parse_reply(frame)
            if reply.body != body:
                return None  # a late answer to an earlier request
            if (error := reply.error) is not None:
                if error == "ERR3":
                    raise DeviceBusy(body, error)
                raise DeviceRejected(body, error)
            return reply.value if value_only else reply

        return self.link.request(wire, timeout=self.timeout, parse=answer, what=body)

    def _query(self, body: str, *, pjlink_class: int = 1) -> Awaitable[str]:
        return self._request(_query_request(body, pjlink_class), value_only=True)

    async def _query_or_none(self, body: str, *, pjlink_class: int = 1) -> str | None:
        """A query the projector may refuse for now (ERR3 in standby, say)."""
        try:
            return await self._query(body, pjlink_class=pjlink_class)
        except DeviceBusy:
            return None

    async def _set_value(self, body: str, param: str, *, pjlink_class: int = 1) -> None:
        reply = await self._request(Request(body, param, pjlink_class))
        if reply.value != "OK":
            raise ProtocolError(f"{body} set answered {reply.value!r}, not OK")

    async def _set_retrying(self, body: str, param: str, *, pjlink_class: int = 1) -> None:
        # ERR3 while warming up or cooling down is the projector's normal state: wait it out.
        busy = self.state.get("power") in (Power.WARMING_UP, Power.COOLING_DOWN)
        await self.retry_while_busy(
            lambda: self._set_value(body, param, pjlink_class=pjlink_class),
            within=self.options.busy_retry_for if busy else 0.0,
        )

    # --- polling --------------------------------------------------------------------

    async def probe(self) -> None:
        self._set("power", parse_power(await self._query("POWR")))

    async def poll(self) -> None:
        power = parse_power(await self._query("POWR"))
        self._set("power", power)
        self._set("errors", parse_error_status(await self._query("ERST")))
        if (lamps := await self._query_or_none("LAMP")) is not None:
            self._set("lamps", parse_lamps(lamps))
        if (current := await self._query_or_none("INPT")) is not None:
            self._set("input", input_name(current))
        if (mute := await self._query_or_none("AVMT")) is not None:
            self._set("av_mute", parse_av_mute(mute))
        if self.pjlink_class == 2:
            if (filt := await self._query_or_none("FILT", pjlink_class=2)) is not None:
                self._set("filter_hours", parse_hours(filt))
            if (frozen := await self._query_or_none("FREZ", pjlink_class=2)) is not None:
                self._set("freeze", frozen == "1")
            # IRES: the selected input's resolution, "-" when nothing is coming in (class 2 §4.18).
            resolution = await self._query_or_none("IRES", pjlink_class=2) if power is Power.ON else None
            self._set("input_resolution", resolution)
            self._set("input_signal", None if resolution is None else resolution != NO_SIGNAL)

    # --- capabilities ---------------------------------------------------------------

    def available_inputs(self) -> tuple[str, ...]:
        return self.state.get("inputs", ())

    async def set_power(self, on: bool) -> None:
        await self._set_retrying("POWR", "1" if on else "0")

    async def select_input(self, name: str) -> None:
        await self._set_retrying("INPT", input_code(name), pjlink_class=2 if name[-1].isalpha() else 1)

    async def set_av_mute(self, *, video: bool | None = None, audio: bool | None = None) -> None:
        if video is not None and video == audio:
            await self._set_retrying("AVMT", "31" if video else "30")
            return
        if video is not None:
            await self._set_retrying("AVMT", "11" if video else "10")
        if audio is not None:
            await self._set_retrying("AVMT", "21" if audio else "20")

    async def set_freeze(self, on: bool) -> None:
        if self.pjlink_class < 2:
            raise DeviceRejected("FREZ", "class 1 projector has no freeze")
        await self._set_retrying("FREZ", "1" if on else "0", pjlink_class=2)


# --- class 2 search over UDP ------------------------------------------------------------

SEARCH_TIMEOUT = 2.0  # the spec gives projectors 30 s to answer; on one LAN they answer in ms
_ACKN = re.compile(rb"%2ACKN=([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\r")
_LKUP = re.compile(rb"%2LKUP=([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\r")


@dataclass(frozen=True, slots=True)
class Found:
    mac: str
    host: str


def parse_search_answer(datagram: bytes) -> str | None:
    """`%2ACKN=00:11:22:33:44:55\\r` or `%2LKUP=...` → the MAC address; anything else → None."""
    m = _ACKN.fullmatch(datagram) or _LKUP.fullmatch(datagram)
    return m.group(1).decode().lower() if m else None


class Announcements:
    """Listen on UDP for class 2 announcements: `%2LKUP` when a projector's network comes up.

        async with Announcements(port=4352) as announcements:
            found = await announcements.next(timeout=30)
    """

    def __init__(self, *, host: str = "0.0.0.0", port: int = PORT) -> None:
        self.host, self.port = host, port
        self._found: asyncio.Queue[Found] = asyncio.Queue(maxsize=256)
        self._transport: asyncio.DatagramTransport | None = None
        self.ignored = 0  # datagrams that were not announcements (status notifications, noise)

    async def __aenter__(self) -> "Announcements":
        found, owner = self._found, self

        class Listener(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr) -> None:
                if _LKUP.fullmatch(data) and not found.full():
                    found.put_nowait(Found(mac=parse_search_answer(data), host=addr[0]))
                else:
                    owner.ignored += 1

        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(Listener, local_addr=(self.host, self.port))
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()

    async def next(self, *, timeout: float) -> Found:
        async with asyncio.timeout(timeout):
            return await self._found.get()


async def search(target: str = "255.255.255.255", port: int = PORT, *, timeout: float = SEARCH_TIMEOUT) -> list[Found]:
    """Send `%2SRCH` and collect the projectors that answer within ``timeout``."""
    loop = asyncio.get_running_loop()
    found: dict[str, Found] = {}

    class Collector(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            if (mac := parse_search_answer(data)) is not None:
                found.setdefault(mac, Found(mac=mac, host=addr[0]))

    transport, _ = await loop.create_datagram_endpoint(Collector, local_addr=("0.0.0.0", 0), allow_broadcast=True)
    try:
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        transport.sendto(b"%2SRCH\r", (target, port))
        await asyncio.sleep(timeout)  # answers trickle in; collecting for the window is the protocol
    finally:
        transport.close()
    return list(found.values())
