"""Epson projectors over RS-232: ESC/VP21.

The protocol (shared/protocols/escvp21.md): ASCII commands ended by CR; the projector
answers with zero or more result lines, each ended by CR, and then the prompt ``:``.
``\\r`` alone gets a bare ``:``. Queries are ``KEY?`` → ``KEY=value``; set commands are
``KEY VALUE`` → ``:`` when accepted or ``ERR`` when refused, which many commands are
while the lamp warms up or cools down.

The first half of this module is the codec: typed commands → bytes, a framer that cuts
the byte stream at each prompt, and parsers that turn reply lines into typed values.
It does no I/O. The second half is the device class, which drives the codec over a
``Link`` on an injected serial transport.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.capabilities import (
    AVMute,
    ErrorStatus,
    HasAVMute,
    HasErrorStatus,
    HasIdentity,
    HasInputs,
    HasLamps,
    HasPower,
    Identity,
    InputName,
    Lamp,
    Level,
    Power,
)
from drivers.device import Device, TransportSpec
from drivers.errors import DeviceBusy, DeviceRejected, InvalidCommand, ProtocolError
from drivers.link import Link

# ======================================================================================
# Codec: no I/O below this line until the device class.
# ======================================================================================

CR = b"\r"
PROMPT = b":"
# Nothing we ask for comes near this; a peer that sends more without a prompt is broken.
MAX_FRAME = 1024

Frame = list[bytes]  # the reply lines before one prompt, CR stripped; [] for a bare ":"


class Query(StrEnum):
    """The get commands this driver sends, by their ESC/VP21 keyword."""

    POWER = "PWR"
    SOURCE = "SOURCE"
    MUTE = "MUTE"
    LAMP = "LAMP"
    ERROR = "ERR"


@dataclass(frozen=True)
class NullCommand:
    """A bare CR: the projector answers ``:``. The spec's cheap link check."""


@dataclass(frozen=True)
class QueryCommand:
    query: Query


@dataclass(frozen=True)
class PowerCommand:
    on: bool


@dataclass(frozen=True)
class SourceCommand:
    code: str  # two hex digits, as in the spec's SOURCE table

    def __post_init__(self) -> None:
        if not SOURCE_CODE.fullmatch(self.code):
            raise InvalidCommand(f"SOURCE code must be two hex digits, not {self.code!r}", field="input")


@dataclass(frozen=True)
class MuteCommand:
    on: bool  # A/V mute: picture and sound together


EscCommand = NullCommand | QueryCommand | PowerCommand | SourceCommand | MuteCommand


def encode(command: EscCommand) -> bytes:
    match command:
        case NullCommand():
            text = ""
        case QueryCommand(query=query):
            text = f"{query}?"
        case PowerCommand(on=on):
            text = "PWR ON" if on else "PWR OFF"
        case SourceCommand(code=code):
            text = f"SOURCE {code}"
        case MuteCommand(on=on):
            text = "MUTE ON" if on else "MUTE OFF"
        case _:
            raise InvalidCommand(f"not an ESC/VP21 command: {command!r}")
    return text.encode("ascii") + CR


class PromptFramer:
    """Cuts the projector's byte stream into frames, one per ``:`` prompt.

    A ``:`` is the prompt only where a line starts (at the beginning of the stream,
    after a CR, or right after another prompt); anywhere else it is part of a line.
    Bytes arrive in any chunking: a serial port hands them over as they trickle in.
    """

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self._max_frame = max_frame
        self._lines: Frame = []
        self._line = bytearray()
        self._held = 0  # bytes of the frame being built, terminators included

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        for byte in data:
            if byte == PROMPT[0] and not self._line:
                frames.append(self._lines)
                self._lines, self._held = [], 0
                continue
            if byte == CR[0]:
                self._lines.append(bytes(self._line))
                self._line.clear()
            else:
                self._line.append(byte)
            self._held += 1
            if self._held > self._max_frame:
                start = (b"\r".join(self._lines) + b"\r" + bytes(self._line))[:80]
                self.reset()
                raise ProtocolError(f"more than {self._max_frame} bytes without a prompt", start)
        return frames

    def reset(self) -> None:
        self._lines, self._held = [], 0
        self._line.clear()

    @property
    def pending(self) -> bytes:
        """Bytes of a frame begun but not finished."""
        return b"".join(line + CR for line in self._lines) + bytes(self._line)


# --- replies ---------------------------------------------------------------------------

SOURCE_CODE = re.compile(r"[0-9A-F]{2}")
_KEY_VALUE = re.compile(rb"([A-Z]+)=([0-9A-Z]+)")

POWER_STATES: dict[str, Power] = {
    "00": Power.OFF,  # standby, network off
    "01": Power.ON,  # lamp on
    "02": Power.WARMING_UP,
    "03": Power.COOLING_DOWN,
    "04": Power.OFF,  # standby, network on
    "05": Power.ABNORMAL_STANDBY,
    "09": Power.OFF,  # A/V standby
}

# ERR? codes → the component they concern; an unlisted code counts as "other".
NO_ERROR = "00"
ERROR_COMPONENTS: dict[str, tuple[str, Level]] = {
    "01": ("fan", Level.ERROR),
    "03": ("lamp", Level.ERROR),  # lamp failure at power on
    "04": ("temperature", Level.ERROR),
    "06": ("lamp", Level.ERROR),
    "07": ("cover", Level.ERROR),  # lamp cover open
    "0B": ("other", Level.ERROR),  # subsystem
    "0C": ("filter", Level.WARNING),  # low air flow: clean the filter
    "0D": ("filter", Level.WARNING),  # air filter sensor
    "0E": ("other", Level.ERROR),  # power supply
}


@dataclass(frozen=True)
class Accepted:
    """A bare prompt: a set command (or the null command) was carried out."""


@dataclass(frozen=True)
class Refused:
    """``ERR``: the command was refused — invalid, or not possible in this power state."""


@dataclass(frozen=True)
class PowerReply:
    key: ClassVar[str] = Query.POWER
    state: Power
    code: str


@dataclass(frozen=True)
class SourceReply:
    key: ClassVar[str] = Query.SOURCE
    code: str


@dataclass(frozen=True)
class MuteReply:
    key: ClassVar[str] = Query.MUTE
    on: bool


@dataclass(frozen=True)
class LampReply:
    key: ClassVar[str] = Query.LAMP
    hours: int


@dataclass(frozen=True)
class ErrorReply:
    key: ClassVar[str] = Query.ERROR
    code: str

    @property
    def status(self) -> ErrorStatus:
        return error_status(self.code)


QueryReply = PowerReply | SourceReply | MuteReply | LampReply | ErrorReply
Reply = Accepted | Refused | QueryReply


def power_state(code: str) -> Power:
    # A well-formed code this table lacks comes from a newer model, not from line noise.
    return POWER_STATES.get(code, Power.UNKNOWN)


def error_status(code: str) -> ErrorStatus:
    if code == NO_ERROR:
        return ErrorStatus()
    component, level = ERROR_COMPONENTS.get(code, ("other", Level.ERROR))
    return ErrorStatus(**{component: level})


def parse_line(line: bytes) -> Refused | QueryReply:
    """One reply line (CR stripped) → its typed value."""
    if line == b"ERR":
        return Refused()
    match = _KEY_VALUE.fullmatch(line)
    if match is None:
        raise ProtocolError("not an ESC/VP21 reply line", line)
    key, value = match.group(1).decode(), match.group(2).decode()
    if key == Query.POWER and re.fullmatch(r"[0-9]{2}", value):
        return PowerReply(state=power_state(value), code=value)
    if key == Query.SOURCE and SOURCE_CODE.fullmatch(value):
        return SourceReply(code=value)
    if key == Query.MUTE and value in ("ON", "OFF"):
        return MuteReply(on=value == "ON")
    if key == Query.LAMP and value.isdigit():
        return LampReply(hours=int(value))
    if key == Query.ERROR and SOURCE_CODE.fullmatch(value):
        return ErrorReply(code=value)
    raise ProtocolError(f"unexpected {key} reply", line)


def parse_frame(frame: Frame) -> Reply:
    """Everything before one prompt → the reply it carries."""
    if not frame:
        return Accepted()
    if len(frame) > 1:
        raise ProtocolError("more than one reply line before the prompt", b"\r".join(frame))
    return parse_line(frame[0])


def answers(command: EscCommand, reply: Reply) -> bool:
    """Whether ``reply`` is the answer to ``command`` rather than a late answer to another.

    A reply that comes after its request timed out must not be taken for the answer to
    the next request: a query's answer carries its key; a set command's is a bare prompt.
    """
    if isinstance(reply, Refused):
        return True
    if isinstance(command, QueryCommand):
        return getattr(reply, "key", None) == command.query
    return isinstance(reply, Accepted)


# Input names of the spec's SOURCE table; the `inputs` option replaces it per model.
DEFAULT_INPUTS: dict[str, str] = {
    "computer1": "10",
    "computer2": "20",
    "hdmi1": "30",
    "hdmi2": "A0",
    "video": "41",
    "usb": "52",
    "lan": "53",
}

# ======================================================================================
# Device
# ======================================================================================

SourceCode = Annotated[str, Field(pattern=f"^{SOURCE_CODE.pattern}$")]

# The lamp is lit in these states (it cools with the fans running, but dark).
LAMP_LIT = frozenset({Power.WARMING_UP, Power.ON})
# The projector refuses most commands in these states only until the transition ends.
TRANSITIONS = frozenset({Power.WARMING_UP, Power.COOLING_DOWN})
# A bare CR may answer ERR once: it ends whatever half command noise left in the
# projector's buffer. The second one must get the bare prompt.
LINK_CHECK_ATTEMPTS = 2


class EscVp21Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Power transitions take tens of seconds; a command refused meanwhile is tried again
    # for this long before DeviceBusy reaches the caller.
    busy_retry_for: float = Field(60.0, ge=0, le=600)
    # Input name → SOURCE code, for models whose codes differ from the spec's table.
    inputs: dict[InputName, SourceCode] | None = None

    @model_validator(mode="after")
    def _one_name_per_code(self) -> "EscVp21Options":
        if self.inputs is not None and len(set(self.inputs.values())) != len(self.inputs):
            raise ValueError("two inputs share a SOURCE code; the projector could not tell them apart")
        return self


class EscVp21Projector(Device, HasPower, HasInputs, HasAVMute, HasLamps, HasErrorStatus, HasIdentity):
    """An Epson projector on its RS-232 control port.

    One request at a time: the projector takes the next command only after its prompt.
    ``self.timeout`` bounds every request. Some models are documented to hold the prompt
    after ``PWR ON`` until the lamp has struck; this driver follows the project's spec,
    which has ``PWR ON`` answered at once, and would see such a model time out.
    """

    driver = "escvp21"
    transport_spec = TransportSpec("serial", baudrate=9600)
    Options = EscVp21Options

    def __init__(self, device_id: str, transport, *, options: BaseModel | None = None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        self._codes_by_input = dict(self.options.inputs or DEFAULT_INPUTS)
        self._inputs_by_code = {code: name for name, code in self._codes_by_input.items()}
        self._link = Link(transport, PromptFramer(), name=device_id)

    # --- what the supervisor drives -------------------------------------------------

    async def connect(self) -> None:
        await self._link.open()
        for _ in range(LINK_CHECK_ATTEMPTS):
            if isinstance(await self._request(NullCommand()), Accepted):
                break
        else:
            raise ProtocolError("the projector answers ERR to a bare CR")
        self._set("identity", Identity(manufacturer="Epson", protocol="ESC/VP21"))
        self._set("inputs", self.available_inputs())

    async def close(self) -> None:
        await self._link.close()

    async def probe(self) -> None:
        self._set("power", await self._query_power())

    async def poll(self) -> None:
        power = await self._query_power()
        self._set("power", power)
        if power is Power.ON:
            # SOURCE? and MUTE? answer ERR unless the lamp is on: the last values stand.
            if isinstance(source := await self._query(Query.SOURCE), SourceReply):
                self._set("input", self._inputs_by_code.get(source.code))
            if isinstance(mute := await self._query(Query.MUTE), MuteReply):
                self._set("av_mute", AVMute(video=mute.on, audio=mute.on))
        if isinstance(lamp := await self._query(Query.LAMP), LampReply):
            self._set("lamps", (Lamp(hours=lamp.hours, on=power in LAMP_LIT),))
        if isinstance(errors := await self._query(Query.ERROR), ErrorReply):
            self._set("errors", errors.status)

    # --- capabilities ---------------------------------------------------------------

    async def set_power(self, on: bool) -> None:
        await self._send_retrying(PowerCommand(on))

    def available_inputs(self) -> tuple[str, ...]:
        return tuple(self._codes_by_input)

    async def select_input(self, name: str) -> None:
        code = self._codes_by_input.get(name)
        if code is None:
            raise InvalidCommand(f"unknown input {name!r}; this projector has {', '.join(self._codes_by_input)}", field="input")
        await self._send_retrying(SourceCommand(code))
        self._set("input", name)

    async def set_av_mute(self, *, video: bool | None = None, audio: bool | None = None) -> None:
        wanted = {value for value in (video, audio) if value is not None}
        if len(wanted) != 1:
            # MUTE blanks picture and sound together; there is no way to mute just one.
            raise InvalidCommand("ESC/VP21 mutes video and audio together; set them alike", field="audio")
        on = wanted.pop()
        await self._send_retrying(MuteCommand(on))
        self._set("av_mute", AVMute(video=on, audio=on))

    # --- requests -------------------------------------------------------------------

    async def _request(self, command: EscCommand) -> Reply:
        def answer(frame: Frame) -> Reply | None:
            reply = parse_frame(frame)  # garbage raises ProtocolError: the request fails at once
            return reply if answers(command, reply) else None  # None: a late reply, skipped

        wire = encode(command)
        return await self._link.request(wire, timeout=self.timeout, parse=answer, what=_spoken(wire))

    async def _query(self, query: Query) -> QueryReply | None:
        """The typed answer, or None when the projector refuses the query in this state."""
        reply = await self._request(QueryCommand(query))
        return None if isinstance(reply, Refused) else reply

    async def _query_power(self) -> Power:
        reply = await self._query(Query.POWER)
        if reply is None:
            raise DeviceRejected("PWR?", "ERR")
        return reply.state

    async def _send_retrying(self, command: EscCommand) -> None:
        await self.retry_while_busy(lambda: self._send(command), within=self.options.busy_retry_for)

    async def _send(self, command: EscCommand) -> None:
        if isinstance(await self._request(command), Accepted):
            return
        # ERR does not say why; the power state does. Refused mid-transition is "not yet".
        power = await self._query_power()
        self._set("power", power)
        what = _spoken(encode(command))
        if power in TRANSITIONS:
            raise DeviceBusy(what, "ERR")
        raise DeviceRejected(what, "ERR")


def _spoken(wire: bytes) -> str:
    """A request as logs and errors show it: `PWR ON`, or `CR` for the null command."""
    return wire.decode("ascii").strip() or "CR"
