"""An Epson projector's side of ESC/VP21, on a pseudo-terminal at 9600 baud.

Written from shared/protocols/escvp21.md alone (it imports nothing from drivers/):
commands end with CR; the projector answers with its result lines, each ended by CR,
and then the prompt ``:``. ``\\r`` alone gets a bare ``:``. Set commands answer ``:``
or ``ERR\\r:``.

The projector is a small state machine read off the injected clock, computed when
asked, never on a timer: ``PWR ON`` starts a warm-up that ends ``warmup`` seconds
later, ``PWR OFF`` a cool-down; lamp hours grow while the lamp is lit. Device faults
(lamp, temperature, cover, fan) switch the lamp off into abnormal standby and show in
``ERR?``; a clogged filter only shows. The base class paces bytes at the baud rate and
applies the link faults.
"""

from __future__ import annotations

import argparse
import time
from enum import StrEnum
from typing import Any

from simulators.base import Clock, PtyLineSimulator, Session
from simulators.faults import Fault, Faults

DEFAULT_WARMUP = 30.0  # seconds: a lamp projector takes about this long to strike and settle
DEFAULT_COOLDOWN = 30.0
DEFAULT_SOURCE = "30"  # HDMI 1

PROMPT = b":"
CR = b"\r"

# The spec's SOURCE table: the inputs this projector has.
SOURCES = frozenset({"10", "20", "30", "A0", "41", "52", "53"})

# ERR? codes of the device faults, highest priority first: ERR? reports one code.
ERROR_CODES: dict[Fault, str] = {
    Fault.LAMP_FAILURE: "06",
    Fault.OVER_TEMPERATURE: "04",
    Fault.FAN: "01",
    Fault.COVER_OPEN: "07",
    Fault.FILTER: "0D",
}
NO_ERROR = "00"
# A projector protects itself from these by switching the lamp off; a clogged filter is
# only a warning and the picture stays.
SHUTDOWN_FAULTS = frozenset({Fault.LAMP_FAILURE, Fault.OVER_TEMPERATURE, Fault.FAN, Fault.COVER_OPEN})


class Phase(StrEnum):
    """Power states, by their PWR? codes."""

    STANDBY = "04"  # standby with communication on: the serial port keeps answering
    ON = "01"
    WARMING_UP = "02"
    COOLING_DOWN = "03"
    ABNORMAL_STANDBY = "05"

    @property
    def lamp_lit(self) -> bool:
        return self in (Phase.WARMING_UP, Phase.ON)


class ProjectorModel:
    """The projector's state; every reading first catches up with the clock."""

    def __init__(self, clock: Clock, faults: Faults, *, warmup: float, cooldown: float, lamp_hours: float) -> None:
        self._clock = clock
        self._faults = faults
        self.warmup = warmup
        self.cooldown = cooldown
        self._lamp_seconds = lamp_hours * 3600.0  # folded in whenever the lamp goes dark
        self._phase = Phase.STANDBY
        self._since = clock()
        self.source = DEFAULT_SOURCE
        self.muted = False

    # --- readings ---------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        self.catch_up()
        return self._phase

    @property
    def lamp_hours(self) -> int:
        phase = self.phase
        lit_now = self._clock() - self._since if phase.lamp_lit else 0.0
        return int((self._lamp_seconds + lit_now) // 3600)

    @property
    def error_code(self) -> str:
        return next((code for fault, code in ERROR_CODES.items() if fault in self._faults), NO_ERROR)

    # --- actions: True when accepted, False for ERR ------------------------------------

    def power_on(self) -> bool:
        phase = self.phase
        if phase is Phase.STANDBY:
            self._enter(Phase.WARMING_UP, self._clock())
        return phase in (Phase.STANDBY, Phase.WARMING_UP, Phase.ON)

    def power_off(self) -> bool:
        phase = self.phase
        if phase is Phase.ON:
            self._enter(Phase.COOLING_DOWN, self._clock())
        return phase is not Phase.WARMING_UP  # the lamp must finish striking first

    def select_source(self, code: str) -> bool:
        if self.phase is not Phase.ON or code not in SOURCES:
            return False
        self.source = code
        return True

    def set_mute(self, on: bool) -> bool:
        if self.phase is not Phase.ON:
            return False
        self.muted = on
        return True

    def reset(self) -> None:
        """A reboot: standby and default settings; the lamp's hours are the lamp's."""
        self._enter(Phase.STANDBY, self._clock())
        self.source = DEFAULT_SOURCE
        self.muted = False

    # --- the clock ----------------------------------------------------------------------

    def catch_up(self) -> None:
        """Apply what the clock and the faults have done since the last reading."""
        now = self._clock()
        if self._phase is Phase.WARMING_UP and now >= self._since + self.warmup:
            self._enter(Phase.ON, self._since + self.warmup)
        if self._phase is Phase.COOLING_DOWN and now >= self._since + self.cooldown:
            self._enter(Phase.STANDBY, self._since + self.cooldown)
        shutdown = any(fault in self._faults for fault in SHUTDOWN_FAULTS)
        if shutdown and self._phase is not Phase.ABNORMAL_STANDBY:
            self._enter(Phase.ABNORMAL_STANDBY, now)
        elif not shutdown and self._phase is Phase.ABNORMAL_STANDBY:
            self._enter(Phase.STANDBY, now)  # the technician fixed it; ready to power on

    def _enter(self, phase: Phase, at: float) -> None:
        if self._phase.lamp_lit:
            self._lamp_seconds += at - self._since
        if phase is Phase.COOLING_DOWN:
            self.muted = False  # A/V mute does not outlive the picture
        self._phase, self._since = phase, at


class EscVp21Simulator(PtyLineSimulator):
    protocol = "escvp21"
    description = "Epson projector, ESC/VP21 over RS-232 (a pseudo-terminal)"
    terminator = CR
    # A garbled reply keeps its frame end, which in ESC/VP21 is the prompt.
    reply_terminator = PROMPT

    def __init__(
        self,
        *,
        warmup: float = DEFAULT_WARMUP,
        cooldown: float = DEFAULT_COOLDOWN,
        lamp_hours: float = 0,
        baudrate: int = 9600,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(baudrate=baudrate, clock=clock)
        self.model = ProjectorModel(clock, self.faults, warmup=warmup, cooldown=cooldown, lamp_hours=lamp_hours)

    # --- the protocol ---------------------------------------------------------------------

    def respond(self, session: Session, line: bytes) -> bytes:
        # Projectors take commands in either case and ignore stray blanks around them.
        request = line.decode("ascii", errors="replace").strip().upper()
        if not request:
            return PROMPT
        if request.endswith("?"):
            return self._answer_query(request[:-1])
        keyword, _, argument = request.partition(" ")
        model = self.model
        match keyword, argument:
            case "PWR", "ON":
                accepted = model.power_on()
            case "PWR", "OFF":
                accepted = model.power_off()
            case "SOURCE", code:
                accepted = model.select_source(code)
            case "MUTE", ("ON" | "OFF") as state:
                accepted = model.set_mute(state == "ON")
            case _:
                accepted = False
        return PROMPT if accepted else _refused()

    def _answer_query(self, keyword: str) -> bytes:
        model = self.model
        lamp_on = model.phase is Phase.ON
        match keyword:
            case "PWR":
                return _result(f"PWR={model.phase}")
            case "SOURCE" if lamp_on:
                return _result(f"SOURCE={model.source}")
            case "MUTE" if lamp_on:
                return _result(f"MUTE={'ON' if model.muted else 'OFF'}")
            case "LAMP":
                return _result(f"LAMP={model.lamp_hours}")
            case "ERR":
                return _result(f"ERR={model.error_code}")
        return _refused()

    def reset(self) -> None:
        self.model.reset()

    # --- faults ---------------------------------------------------------------------------

    def on_fault(self, fault: Fault) -> None:
        super().on_fault(fault)
        self.model.catch_up()  # a shutdown fault takes the lamp out now, not at the next question

    def clear_faults(self, fault: Fault | str | None = None) -> None:
        super().clear_faults(fault)
        if fault is None or Fault(fault) is Fault.PARTIAL:
            # A serial line has no connection for the driver to drop after a partial
            # answer, so clearing the fault starts a fresh session here.
            self._drop_all()

    # --- command line and config ----------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal (the only transport; printed as `listening /dev/pts/N`)")
        parser.add_argument("--warmup", type=float, help=f"seconds of lamp warm-up (default {DEFAULT_WARMUP:g})")
        parser.add_argument("--cooldown", type=float, help=f"seconds of cool-down (default {DEFAULT_COOLDOWN:g})")
        parser.add_argument("--lamp-hours", type=float, help="lamp hours at start (default 0)")
        parser.add_argument("--baudrate", type=int, help="serial speed whose byte timing is simulated (default 9600)")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock: Clock = time.monotonic) -> "EscVp21Simulator":
        given = {key: options[key] for key in ("warmup", "cooldown", "lamp_hours", "baudrate") if options.get(key) is not None}
        return cls(**given, clock=clock)


def _result(line: str) -> bytes:
    return line.encode("ascii") + CR + PROMPT


def _refused() -> bytes:
    return b"ERR" + CR + PROMPT
