"""A PJLink class 1 + class 2 projector: TCP commands, UDP search and status notifications.

Written from the JBMIA specifications (class 1, and class 2 "PJLink_5-1"; section
numbers below are the class 2 document's), not from our driver. The projector is a
small state machine read off the injected clock: a warm-up ends when the clock says
so, lamp and filter hours grow with it, and device faults show in ERST.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

from simulators.base import Clock, Session, TcpLineSimulator
from simulators.faults import Fault, Faults

DEFAULT_PORT = 4352  # TCP and UDP, both classes
WARMUP_SECONDS = 30.0
COOLDOWN_SECONDS = 20.0
IDLE_TIMEOUT = 30.0  # a projector hangs up on a connection silent this long
# Real time between looks at the clock-driven state, to notify a warm-up's end: the
# clock may be a test's, so the end can't be put on a timer.
STATUS_WATCH_INTERVAL = 0.05

MAX_PARAMETER_BYTES = 128  # 136-byte reply: "%1BODY=" + 128 + "\r"
MAX_TEXT_BYTES = {"NAME": 64, "INF1": 32, "INF2": 32, "INFO": 32, "SNUM": 32, "SVER": 32}
MAX_LAMP_HOURS = 99999  # LAMP hours are 1-5 digits

# §2.2 error answers
UNDEFINED = "ERR1"
OUT_OF_RANGE = "ERR2"
UNAVAILABLE = "ERR3"
FAILURE = "ERR4"
AUTH_FAILED = b"PJLINK ERRA\r"  # §5: then the projector closes the connection

# Which class header each body may carry (the class column of the command table):
# INPT and INST exist in both, the rest in one only.
BODIES_BY_CLASS = {
    "1": frozenset({"POWR", "INPT", "AVMT", "ERST", "LAMP", "INST", "NAME", "INF1", "INF2", "INFO", "CLSS"}),
    "2": frozenset({"INPT", "INST", "SNUM", "SVER", "INNM", "IRES", "RRES", "FILT", "RLMP", "RFIL",
                    "SVOL", "MVOL", "FREZ"}),
}
# §4.3: class 1 names inputs 1-5 x 1-9; class 2 adds type 6 (internal) and numbers A-Z.
INPUT_TYPES = {"1": "12345", "2": "123456"}
INPUT_NUMBERS = {"1": "123456789", "2": "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
INPUT_TYPE_NAMES = {"1": "RGB", "2": "Video", "3": "Digital", "4": "Storage", "5": "Network", "6": "Internal"}

SEARCH = b"%2SRCH\r"  # class 2 search, broadcast by controllers to UDP 4352
NO_SIGNAL = "-"  # §4.18 IRES: no signal on the selected input
MAC_FORMAT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
# What from_options takes from parsed arguments or a device's config; anything else is ignored.
OPTION_KEYS = frozenset({
    "host", "port", "password", "warmup", "cooldown", "lamp_hours", "filter_hours", "name", "manufacturer",
    "model", "other_info", "serial_number", "software_version", "mac", "inputs", "udp", "udp_port", "notify",
    "idle_timeout",
})


class PowerState(Enum):
    """§4.2 POWR ? answers."""

    STANDBY = "0"
    ON = "1"
    COOLING = "2"
    WARMING = "3"


class Refused(Exception):
    """The projector turns a command down with a PJLink error code (ERR2, ERR3, ERR4)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Projector:
    """The device: power cycle, lamp, inputs and mutes, its error status from the active faults."""

    RATED_LAMP_HOURS = 4000  # a typical UHP lamp in normal mode: a warning past it
    RATED_FILTER_HOURS = 2000  # a typical filter cleaning interval: a warning past it
    VOLUME_STEPS = 20
    # Faults that keep the lamp from lighting: POWR 1 answers ERR4.
    BLOCK_POWER_ON = frozenset({Fault.LAMP_FAILURE, Fault.FAN, Fault.OVER_TEMPERATURE, Fault.COVER_OPEN})
    # A dead lamp or fan stops the projector at once; heat or an open cover make it
    # put the lamp out and cool down first, as its fans still can.
    STOP_AT_ONCE = frozenset({Fault.LAMP_FAILURE, Fault.FAN})
    COOL_DOWN = frozenset({Fault.OVER_TEMPERATURE, Fault.COVER_OPEN})

    def __init__(self, *, clock: Clock, faults: Faults, warmup: float, cooldown: float, lamp_hours: float,
                 filter_hours: float, inputs: Mapping[str, str], signals: Mapping[str, str]) -> None:
        self._clock = clock
        self._faults = faults
        self.warmup = warmup
        self.cooldown = cooldown
        self.inputs = dict(inputs)
        self.signals = dict(signals)  # input -> resolution of what is plugged into it
        self._lamp_hours_before = lamp_hours
        self._filter_hours_before = filter_hours
        self._lit_seconds = 0.0
        self._lit_since: float | None = None
        self.reset()

    def reset(self) -> None:
        """Power-on defaults: standby, first input, nothing muted or frozen. Hours are kept."""
        self._put_out_lamp()
        self._state = PowerState.STANDBY
        self._state_ends = math.inf
        self.input = next(iter(self.inputs))
        self.video_muted = self.audio_muted = self.frozen = False
        self.speaker_volume = self.microphone_volume = self.VOLUME_STEPS // 2

    # --- power -----------------------------------------------------------------------

    @property
    def power(self) -> PowerState:
        if self._clock() >= self._state_ends:
            self._state = PowerState.ON if self._state is PowerState.WARMING else PowerState.STANDBY
            self._state_ends = math.inf
        return self._state

    def switch_on(self) -> None:
        power = self.power
        if power in (PowerState.WARMING, PowerState.COOLING):
            raise Refused(UNAVAILABLE)  # §4.1 ERR3 "unavailable time": mid warm-up or cool-down
        if self._faults.active & self.BLOCK_POWER_ON:
            raise Refused(FAILURE)
        if power is PowerState.STANDBY:
            self._lit_since = self._clock()
            self._enter(PowerState.WARMING, self.warmup)

    def switch_off(self) -> None:
        power = self.power
        if power in (PowerState.WARMING, PowerState.COOLING):
            raise Refused(UNAVAILABLE)
        if power is PowerState.ON:
            self._shut_down(cool=True)

    def suffer(self, fault: Fault) -> None:
        """A device fault struck: it may put the lamp out."""
        power = self.power
        if fault in self.STOP_AT_ONCE and power is not PowerState.STANDBY:
            self._shut_down(cool=False)
        elif fault in self.COOL_DOWN and power in (PowerState.WARMING, PowerState.ON):
            self._shut_down(cool=True)

    def require_on(self) -> None:
        if self.power is not PowerState.ON:
            raise Refused(UNAVAILABLE)

    def _shut_down(self, *, cool: bool) -> None:
        self._put_out_lamp()
        self.video_muted = self.audio_muted = self.frozen = False  # blanking and freeze end with the picture
        if cool:
            self._enter(PowerState.COOLING, self.cooldown)
        else:
            self._state, self._state_ends = PowerState.STANDBY, math.inf

    def _enter(self, state: PowerState, seconds: float) -> None:
        self._state, self._state_ends = state, self._clock() + seconds

    # --- lamp and filter -----------------------------------------------------------------

    @property
    def lamp_lit(self) -> bool:
        return self._lit_since is not None

    @property
    def lamp_hours(self) -> int:
        return int(self._lamp_hours_before + self._hours_lit())

    @property
    def filter_hours(self) -> int:
        return int(self._filter_hours_before + self._hours_lit())  # air flows while the lamp burns

    def _hours_lit(self) -> float:
        burning = self._clock() - self._lit_since if self._lit_since is not None else 0.0
        return (self._lit_seconds + burning) / 3600

    def _put_out_lamp(self) -> None:
        if self._lit_since is not None:
            self._lit_seconds += self._clock() - self._lit_since
            self._lit_since = None

    # --- inputs, mutes, status -------------------------------------------------------------

    def select_input(self, code: str) -> None:
        self.require_on()
        if code not in self.inputs:
            raise Refused(OUT_OF_RANGE)
        self.input = code

    def input_resolution(self) -> str:
        self.require_on()
        return self.signals.get(self.input, NO_SIGNAL)

    def error_status(self) -> str:
        """§4.7 ERST: fan, lamp, temperature, cover open, filter, other; 0 ok, 1 warning, 2 error."""
        def level(fault: Fault, warning: bool = False) -> str:
            return "2" if fault in self._faults else "1" if warning else "0"

        return "".join((
            level(Fault.FAN),
            level(Fault.LAMP_FAILURE, self.lamp_hours >= self.RATED_LAMP_HOURS),
            level(Fault.OVER_TEMPERATURE),
            level(Fault.COVER_OPEN),
            level(Fault.FILTER, self.filter_hours >= self.RATED_FILTER_HOURS),
            "0",
        ))


class PjlinkSimulator(TcpLineSimulator):
    """A class 2 projector on TCP (commands) and UDP (search, notifications)."""

    protocol = "pjlink"
    description = "PJLink class 1/2 projector (TCP, UDP search and notifications)"
    DEFAULT_PORT = DEFAULT_PORT  # what `roomctl sim pjlink` may listen on; tests and sites use 0

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str | None = None,
        warmup: float = WARMUP_SECONDS,
        cooldown: float = COOLDOWN_SECONDS,
        lamp_hours: float = 1200,
        filter_hours: float = 300,
        name: str = "roomctl-projector",
        manufacturer: str = "ROOMCTL",
        model: str = "PJ-SIM 2",
        other_info: str = "roomctl PJLink simulator",
        serial_number: str = "SIM0000001",
        software_version: str = "2.00",
        lamp_replacement: str = "LMP-SIM1",
        filter_replacement: str = "FLT-SIM1",
        recommended_resolution: str = "1920x1080",
        mac: str = "00:00:5e:00:53:01",  # from the range RFC 7042 sets aside for documentation
        inputs: Mapping[str, str] | Iterable[str] | None = None,
        signals: Mapping[str, str] | None = None,
        udp: bool = True,
        udp_port: int | None = None,
        notify: tuple[str, int] | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        random_source: Callable[[], str] = lambda: secrets.token_hex(4),
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(host=host, port=port, clock=clock)
        self.password = password or None  # an empty password in a config means none
        if not MAC_FORMAT.fullmatch(mac):
            raise ValueError(f"mac must read xx:xx:xx:xx:xx:xx, not {mac!r}")
        self.mac = mac
        self.texts = {
            "NAME": name, "INF1": manufacturer, "INF2": model, "INFO": other_info,
            "SNUM": serial_number, "SVER": software_version, "RLMP": lamp_replacement,
            "RFIL": filter_replacement, "RRES": recommended_resolution,
        }
        input_names = _input_names(inputs)
        self.projector = Projector(
            clock=clock, faults=self.faults, warmup=float(warmup), cooldown=float(cooldown),
            lamp_hours=float(lamp_hours), filter_hours=float(filter_hours), inputs=input_names,
            signals={"31": "1920x1080"} if signals is None else signals,
        )
        _check_reply_lengths(self.texts, input_names)
        self.udp = udp
        self.udp_port = port if udp_port is None else udp_port  # bound at start; 0 picks a free one
        self.notify = notify
        self._idle_timeout = idle_timeout
        self._random_source = random_source
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._status_watch: asyncio.Task | None = None
        self._link_up_later: asyncio.TimerHandle | None = None
        self._notified = self._status()
        self._commands: dict[str, Callable[[str, str], str]] = {
            "POWR": self._power, "INPT": self._input, "AVMT": self._av_mute, "ERST": self._error_status,
            "LAMP": self._lamp, "INST": self._input_list, "CLSS": self._class, "INNM": self._input_name,
            "IRES": self._input_resolution, "FILT": self._filter, "SVOL": self._speaker_volume,
            "MVOL": self._microphone_volume, "FREZ": self._freeze,
        }
        self._commands.update({body: self._text_query(body) for body in self.texts})

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        if not self.udp:
            return
        try:
            self._udp_transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Datagrams(self._on_datagram), local_addr=(self.host, self.udp_port),
                allow_broadcast=True,  # the notify address may be a broadcast one
            )
        except OSError:
            await super().stop()
            raise
        self.udp_port = self._udp_transport.get_extra_info("sockname")[1]
        self._announce_link_up()
        if self.notify is not None:
            self._status_watch = asyncio.create_task(self._watch_status(), name="pjlink status watch")

    async def stop(self) -> None:
        if self._link_up_later is not None:
            self._link_up_later.cancel()
        if self._status_watch is not None:
            self._status_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_watch
            self._status_watch = None
        if self._udp_transport is not None:
            self._udp_transport.close()
            self._udp_transport = None
        await super().stop()

    def idle_timeout(self) -> float | None:
        return self._idle_timeout

    def reset(self) -> None:
        self.projector.reset()
        self._notified = self._status()  # a rebooted projector announces itself with LKUP instead

    # --- faults -----------------------------------------------------------------------------

    def on_fault(self, fault: Fault) -> None:
        super().on_fault(fault)  # link faults: drop connections, reboot
        self.projector.suffer(fault)
        if fault is Fault.REBOOT:
            self._after_reboot(self.faults.params["reboot_time"])
        self._notify_changes()

    def clear_faults(self, fault: Fault | str | None = None) -> None:
        cable_was_out = Fault.DISCONNECT in self.faults
        super().clear_faults(fault)
        if cable_was_out and Fault.DISCONNECT not in self.faults:
            self._announce_link_up()
        self._notify_changes()

    def _after_reboot(self, reboot_time: float) -> None:
        with contextlib.suppress(RuntimeError):  # no loop running: nobody is listening anyway
            if self._link_up_later is not None:
                self._link_up_later.cancel()
            self._link_up_later = asyncio.get_running_loop().call_later(reboot_time, self._announce_link_up)

    # --- TCP: authentication and commands -------------------------------------------------------

    def greeting(self, session: Session) -> bytes:
        if self.password is None:
            return b"PJLINK 0\r"
        random = self._random_source()
        if len(random) != 8:
            raise ValueError(f"the authentication random is 8 characters, not {random!r}")
        session.values["digest"] = hashlib.md5((random + self.password).encode()).hexdigest()
        return f"PJLINK 1 {random}\r".encode()

    def respond(self, session: Session, line: bytes) -> bytes | None:
        text = line.decode("utf-8", errors="replace")
        if self.password is not None:
            text = self._strip_digest(session, text)
            if text is None:
                session.values["hang_up"] = True
                return AUTH_FAILED
        reply = self._execute(text)
        self._notify_changes()
        return reply

    def _strip_digest(self, session: Session, text: str) -> str | None:
        """The command without its digest, or None when authentication fails (§5).

        The first command of a connection carries md5(random + password); later ones
        need none, but clients that repeat a correct digest on each one are served.
        """
        if session.authenticated and text.startswith("%"):
            return text
        if text[:32].lower() != session.values["digest"]:
            return None
        session.authenticated = True
        return text[32:]

    def _execute(self, text: str) -> bytes | None:
        if len(text) < 6 or not text.startswith("%"):
            return None  # not a command: nothing a projector could answer to
        pjclass, body = text[1], text[2:6]
        if body not in BODIES_BY_CLASS.get(pjclass, ()):
            return _reply(pjclass, body, UNDEFINED)
        if text[6:7] != " ":
            return _reply(pjclass, body, OUT_OF_RANGE)
        try:
            answer = self._commands[body](pjclass, text[7:])
        except Refused as refused:
            answer = refused.code
        return _reply(pjclass, body, answer)

    # One handler per body: (class, parameter) -> the answer after "=".

    def _power(self, pjclass: str, parameter: str) -> str:
        if parameter == "?":
            return self.projector.power.value
        if parameter == "1":
            self.projector.switch_on()
        elif parameter == "0":
            self.projector.switch_off()
        else:
            raise Refused(OUT_OF_RANGE)
        return "OK"

    def _input(self, pjclass: str, parameter: str) -> str:
        if parameter == "?":
            self.projector.require_on()
            return self.projector.input
        if not _nameable(parameter, pjclass):
            raise Refused(OUT_OF_RANGE)
        self.projector.select_input(parameter)
        return "OK"

    def _av_mute(self, pjclass: str, parameter: str) -> str:
        projector = self.projector
        if parameter == "?":
            projector.require_on()
            return {(False, False): "30", (True, False): "11", (False, True): "21", (True, True): "31"}[
                (projector.video_muted, projector.audio_muted)]
        if len(parameter) != 2 or parameter[0] not in "123" or parameter[1] not in "01":
            raise Refused(OUT_OF_RANGE)
        projector.require_on()
        muted = parameter[1] == "1"
        if parameter[0] in "13":
            projector.video_muted = muted
        if parameter[0] in "23":
            projector.audio_muted = muted
        return "OK"

    def _error_status(self, pjclass: str, parameter: str) -> str:
        _query(parameter)
        return self.projector.error_status()

    def _lamp(self, pjclass: str, parameter: str) -> str:
        _query(parameter)
        return f"{min(self.projector.lamp_hours, MAX_LAMP_HOURS)} {int(self.projector.lamp_lit)}"

    def _input_list(self, pjclass: str, parameter: str) -> str:
        _query(parameter)
        return " ".join(code for code in sorted(self.projector.inputs) if _nameable(code, pjclass))

    def _text_query(self, body: str) -> Callable[[str, str], str]:
        """NAME, INF1, INF2, INFO, SNUM, SVER, RLMP, RFIL, RRES: a fixed text, any time."""
        def answer(pjclass: str, parameter: str) -> str:
            _query(parameter)
            return self.texts[body]

        return answer

    def _class(self, pjclass: str, parameter: str) -> str:
        _query(parameter)
        return "2"

    def _input_name(self, pjclass: str, parameter: str) -> str:
        code = parameter[1:]
        if not parameter.startswith("?") or code not in self.projector.inputs:
            raise Refused(OUT_OF_RANGE)  # §4.17: "INNM ?<input>"
        return self.projector.inputs[code]

    def _input_resolution(self, pjclass: str, parameter: str) -> str:
        _query(parameter)
        return self.projector.input_resolution()

    def _filter(self, pjclass: str, parameter: str) -> str:
        _query(parameter)
        return str(self.projector.filter_hours)

    def _speaker_volume(self, pjclass: str, parameter: str) -> str:
        self.projector.speaker_volume = self._stepped(self.projector.speaker_volume, parameter)
        return "OK"

    def _microphone_volume(self, pjclass: str, parameter: str) -> str:
        self.projector.microphone_volume = self._stepped(self.projector.microphone_volume, parameter)
        return "OK"

    def _stepped(self, volume: int, parameter: str) -> int:
        """SVOL/MVOL: 1 up a step, 0 down one; a step past either end still answers OK (§4.23)."""
        if parameter not in ("0", "1"):
            raise Refused(OUT_OF_RANGE)
        self.projector.require_on()
        return min(max(volume + (1 if parameter == "1" else -1), 0), Projector.VOLUME_STEPS)

    def _freeze(self, pjclass: str, parameter: str) -> str:
        if parameter == "?":
            self.projector.require_on()
            return "1" if self.projector.frozen else "0"
        if parameter not in ("0", "1"):
            raise Refused(OUT_OF_RANGE)
        self.projector.require_on()
        self.projector.frozen = parameter == "1"
        return "OK"

    # --- UDP: search, link-up and status notifications (class 2) -----------------------------------

    def _on_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        if data == SEARCH and not self._silent() and Fault.NO_REPLY not in self.faults:
            self._send_udp(f"%2ACKN={self.mac}\r".encode(), sender)

    def _announce_link_up(self) -> None:
        if self.notify is not None and Fault.DISCONNECT not in self.faults:
            self._send_udp(f"%2LKUP={self.mac}\r".encode(), self.notify)

    def _status(self) -> dict[str, str]:
        projector = self.projector
        return {"POWR": projector.power.value, "INPT": projector.input, "ERST": projector.error_status()}

    def _notify_changes(self) -> None:
        """Send `%2POWR=`, `%2INPT=`, `%2ERST=` for what changed since the last notification."""
        status = self._status()
        for body, value in status.items():
            if self._notified.get(body) != value and self.notify is not None and not self._silent():
                self._send_udp(f"%2{body}={value}\r".encode(), self.notify)
        self._notified = status  # changes while the network is down are not sent later

    async def _watch_status(self) -> None:
        while True:
            await asyncio.sleep(STATUS_WATCH_INTERVAL)
            self._notify_changes()

    def _send_udp(self, datagram: bytes, address: tuple[str, int]) -> None:
        if self._udp_transport is not None:
            self._udp_transport.sendto(datagram, address)

    # --- command line and config -------------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--password", help="require PJLink authentication with this password")
        parser.add_argument("--warmup", type=float, help=f"seconds of warm-up (default {WARMUP_SECONDS:g})")
        parser.add_argument("--cooldown", type=float, help=f"seconds of cool-down (default {COOLDOWN_SECONDS:g})")
        parser.add_argument("--udp", action=argparse.BooleanOptionalAction, default=True,
                            help="class 2 search and notifications over UDP")
        parser.add_argument("--udp-port", type=int, help="UDP port (default: the TCP port's number)")
        parser.add_argument("--notify", metavar="HOST:PORT", help="where LKUP and status notifications go")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock: Clock = time.monotonic) -> "PjlinkSimulator":
        given = {key: value for key, value in options.items() if key in OPTION_KEYS and value is not None}
        if isinstance(given.get("notify"), str):
            host, _, port = given["notify"].rpartition(":")
            given["notify"] = (host, int(port))
        return cls(clock=clock, **given)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)


def _reply(pjclass: str, body: str, answer: str) -> bytes:
    return f"%{pjclass}{body}={answer}\r".encode()


def _query(parameter: str) -> None:
    if parameter != "?":
        raise Refused(OUT_OF_RANGE)


def _nameable(code: str, pjclass: str) -> bool:
    """Whether an input code can be said in this class (§4.3)."""
    return len(code) == 2 and code[0] in INPUT_TYPES[pjclass] and code[1] in INPUT_NUMBERS[pjclass]


def _input_names(inputs: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """Input code -> terminal name, from a mapping, a list of codes or a space-separated string."""
    if inputs is None:
        inputs = {"31": "HDMI 1", "32": "HDMI 2", "11": "Computer", "21": "Video", "51": "HDBaseT",
                  "61": "Internal memory"}
    if isinstance(inputs, str):
        inputs = inputs.split()
    if not isinstance(inputs, Mapping):
        inputs = {code: f"{INPUT_TYPE_NAMES.get(str(code)[:1], 'Input')} {str(code)[1:]}" for code in inputs}
    names = {str(code).upper(): str(name) for code, name in inputs.items()}
    if not names:
        raise ValueError("a projector has at least one input")
    for code in names:
        if not _nameable(code, "2"):
            raise ValueError(f"input {code!r} is not a PJLink input (type 1-6, number 1-9 or A-Z)")
    return names


def _check_reply_lengths(texts: Mapping[str, str], inputs: Mapping[str, str]) -> None:
    """Refuse a configuration whose replies would break the 136-byte limit or a field's own."""
    fields = dict(texts)
    fields.update({f"INNM {code}": name for code, name in inputs.items()})
    fields["INST"] = " ".join(inputs)
    for field, value in fields.items():
        limit = MAX_TEXT_BYTES.get(field, MAX_PARAMETER_BYTES)
        if len(value.encode()) > limit:
            raise ValueError(f"{field} {value!r} is longer than PJLink's {limit} bytes")
