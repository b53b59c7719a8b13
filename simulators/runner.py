"""Run one simulator as a process: `roomctl sim <protocol> ...`.

Prints one line `listening <address>` (flushed) when ready; runs until SIGTERM or
SIGINT and exits within a few seconds of it. Faults can be driven from standard
input, one command a line: `inject no_reply`, `inject slow_reply delay=5`,
`clear`, `clear no_reply`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys

from simulators.base import Simulator
from simulators.faults import Fault

STOP_GRACE = 3.0


async def run_standalone(sim: Simulator, *, faults: list[str] = (), read_stdin: bool = True) -> None:
    await sim.start()
    for fault in faults:
        sim.inject(fault)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening {sim.address}", flush=True)  # only now can SIGTERM be handled
    control = asyncio.create_task(_read_control(sim)) if read_stdin and _stdin_is_watchable() else None
    try:
        await stop.wait()
    finally:
        if control is not None:
            control.cancel()
        try:
            await asyncio.wait_for(sim.stop(), STOP_GRACE)
        except asyncio.TimeoutError:
            pass


def _stdin_is_watchable() -> bool:
    """A pipe, socket or terminal can be waited on; /dev/null or a file cannot (epoll refuses them)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(sys.stdin.fileno())


async def _read_control(sim: Simulator) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (OSError, ValueError):
        return  # stdin is not a pipe or terminal we can watch (closed, a file): no control
    while line := await reader.readline():
        reply = apply_control_line(sim, line.decode(errors="replace"))
        if reply:
            print(reply, flush=True)


def apply_control_line(sim: Simulator, line: str) -> str:
    words = line.split()
    if not words:
        return ""
    verb, rest = words[0], words[1:]
    try:
        if verb == "inject" and rest:
            params = dict(word.split("=", 1) for word in rest[1:])
            sim.inject(rest[0], **{k: _number_or_name(v) for k, v in params.items()})
            return f"injected {rest[0]}"
        if verb == "clear":
            targets = dict(word.split("=", 1) for word in rest if "=" in word)  # device=NAME on multi-device sims
            faults = [word for word in rest if "=" not in word]
            sim.clear_faults(faults[0] if faults else None, **targets)
            return "cleared " + (rest[0] if rest else "all")
        own = getattr(sim, "control", None)  # a simulator's own verbs: the scanner's `scan CODE`
        if own is not None and (reply := own(verb, rest)) is not None:
            return reply
    except ValueError as exc:
        return f"error: {exc} (faults: {', '.join(f.value for f in Fault)})"
    return "error: commands are `inject FAULT [key=value...]` and `clear [FAULT]`"


def _number_or_name(value: str) -> float | str:
    """`delay=5` is a number; `device=hall-light` (simulators serving many devices) a name."""
    try:
        return float(value)
    except ValueError:
        return value
