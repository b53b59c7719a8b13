"""The ESC/VP21 simulator on its pseudo-terminal, checked byte for byte against the spec.

These talk to it through a plain serial transport, not through the driver: the bytes
below come from shared/protocols/escvp21.md.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import pytest

from drivers.transports.serial import SerialTransport
from simulators.base import simulators
from simulators.escvp21 import EscVp21Simulator
from simulators.faults import Fault

ANSWER_TIMEOUT = 1.0  # a reply of a few bytes at 9600 baud takes milliseconds
STARTUP_TIMEOUT = 10.0  # a fresh interpreter importing the simulators


class SerialWire:
    """A serial port as a terminal program sees it: write bytes, read what comes back."""

    def __init__(self, path: str) -> None:
        self.port = SerialTransport(path)
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    async def open(self) -> None:
        await self.port.open(self.received.put_nowait, lambda error: None)

    async def close(self) -> None:
        await self.port.close()

    async def exchange(self, request: bytes) -> bytes:
        """Send one request; read up to and including the prompt that ends its answer."""
        self.port.write(request)
        answer = b""
        while not (answer == b":" or answer.endswith(b"\r:")):
            answer += await asyncio.wait_for(self.received.get(), ANSWER_TIMEOUT)
        return answer

    async def read_until_quiet(self, quiet: float = 0.2) -> bytes:
        """Everything that arrives until the line has been silent for ``quiet`` seconds."""
        received = b""
        while True:
            try:
                received += await asyncio.wait_for(self.received.get(), quiet)
            except asyncio.TimeoutError:
                return received


@pytest.fixture
async def projector():
    async with EscVp21Simulator(warmup=30.0, lamp_hours=1234) as sim:
        wire = SerialWire(sim.address)
        await wire.open()
        try:
            yield sim, wire
        finally:
            await wire.close()


DIALOGUE = [  # request → answer, in order, from standby
    (b"\r", b":"),
    (b"PWR?\r", b"PWR=04\r:"),
    (b"LAMP?\r", b"LAMP=1234\r:"),
    (b"ERR?\r", b"ERR=00\r:"),
    (b"SOURCE?\r", b"ERR\r:"),  # no source while the lamp is off
    (b"MUTE ON\r", b"ERR\r:"),
    (b"PWR ON\r", b":"),
    (b"PWR?\r", b"PWR=02\r:"),
    (b"SOURCE 30\r", b"ERR\r:"),  # refused while warming up
    (b"PWR OFF\r", b"ERR\r:"),
    (b"pwr?\r", b"PWR=02\r:"),
    (b"HELLO\r", b"ERR\r:"),
]


async def test_simulator_answers_as_the_spec_says(projector):
    _, wire = projector
    for request, answer in DIALOGUE:
        assert await wire.exchange(request) == answer, request


async def test_simulator_takes_source_and_mute_once_the_lamp_is_on(projector):
    sim, wire = projector
    sim.model.warmup = 0.0
    assert await wire.exchange(b"PWR ON\r") == b":"
    assert await wire.exchange(b"PWR?\r") == b"PWR=01\r:"
    assert await wire.exchange(b"SOURCE A0\r") == b":"
    assert await wire.exchange(b"SOURCE?\r") == b"SOURCE=A0\r:"
    assert await wire.exchange(b"MUTE ON\r") == b":"
    assert await wire.exchange(b"MUTE?\r") == b"MUTE=ON\r:"


async def test_simulator_reports_a_lamp_failure_in_err_and_pwr(projector):
    sim, wire = projector
    sim.inject(Fault.LAMP_FAILURE)
    assert await wire.exchange(b"ERR?\r") == b"ERR=06\r:"
    assert await wire.exchange(b"PWR?\r") == b"PWR=05\r:"
    sim.clear_faults()
    assert await wire.exchange(b"ERR?\r") == b"ERR=00\r:"


async def test_simulator_answers_again_once_a_partial_answer_fault_is_cleared(projector):
    sim, wire = projector
    sim.inject(Fault.PARTIAL)
    wire.port.write(b"PWR?\r")
    assert await wire.read_until_quiet() == b"PWR="  # half of PWR=04\r:, then nothing
    sim.clear_faults()
    assert await wire.exchange(b"PWR?\r") == b"PWR=04\r:"


def test_simulator_is_registered_for_its_protocol():
    assert simulators()["escvp21"] is EscVp21Simulator


async def test_standalone_simulator_prints_its_pty_and_stops_on_sigterm():
    code = (
        "import asyncio; from simulators.escvp21 import EscVp21Simulator; "
        "from simulators.runner import run_standalone; "
        "asyncio.run(run_standalone(EscVp21Simulator.from_options({'warmup': 1}), read_stdin=False))"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)
        assert re.fullmatch(rb"listening /dev/pts/\d+\n", line), line
        wire = SerialWire(line.split()[1].decode())
        await wire.open()
        try:
            # Answered, so the runner's loop is running and its SIGTERM handler installed.
            assert await wire.exchange(b"PWR?\r") == b"PWR=04\r:"
        finally:
            await wire.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), STARTUP_TIMEOUT) == 0
