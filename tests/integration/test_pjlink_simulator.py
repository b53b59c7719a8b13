"""The PJLink simulator over real sockets on 127.0.0.1, spoken to in the specification's bytes.

Requests and expected replies are written out by hand from the PJLink class 1 and class 2
specifications; nothing here is built by an encoder. Time jumps through a clock the test
holds, so warm-ups and lamp hours take no real time.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time

import pytest

from simulators.faults import Fault
from simulators.pjlink import PjlinkSimulator

TIMEOUT = 2.0  # the longest any awaited reply or datagram may take on a loaded CI machine
QUIET = 0.3  # how long a silence must last to count as "no answer"

# The specification's authentication example (class 1 and class 2, §5).
SPEC_RANDOM = "498e4a67"
SPEC_PASSWORD = "JBMIAProjectorLink"
SPEC_DIGEST = b"5d8409bc1c3fa39749434aa3a5c38682"


class ManualClock:
    """The simulator's clock, moved by the test: physics jump at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Client:
    """One raw TCP connection to the projector."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, sim: PjlinkSimulator) -> "Client":
        reader, writer = await asyncio.wait_for(asyncio.open_connection(sim.host, sim.port), TIMEOUT)
        return cls(reader, writer)

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r"), TIMEOUT)

    async def ask(self, request: bytes) -> bytes:
        self.writer.write(request)
        await self.writer.drain()
        return await self.line()

    async def is_closed_by_projector(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), TIMEOUT) == b""

    async def hears_nothing(self) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(100), QUIET)
        except asyncio.TimeoutError:
            return True
        return data == b""

    def close(self) -> None:
        self.writer.close()


async def session(sim: PjlinkSimulator) -> Client:
    """A connection past the greeting of a projector without a password."""
    client = await Client.connect(sim)
    assert await client.line() == b"PJLINK 0\r"
    return client


class Inbox(asyncio.DatagramProtocol):
    """A controller's UDP socket: where the projector's datagrams land."""

    def __init__(self) -> None:
        self.datagrams: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams.put_nowait((data, addr))

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]

    async def next(self) -> bytes:
        data, _ = await asyncio.wait_for(self.datagrams.get(), TIMEOUT)
        return data


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def inbox():
    _, inbox = await asyncio.get_running_loop().create_datagram_endpoint(Inbox, local_addr=("127.0.0.1", 0))
    yield inbox
    inbox.transport.close()


@pytest.fixture
async def projector(clock, inbox):
    """A class 2 projector without a password that notifies the test's inbox."""
    sim = PjlinkSimulator(clock=clock, warmup=30, cooldown=20, notify=inbox.address)
    await sim.start()
    assert await inbox.next() == b"%2LKUP=00:00:5e:00:53:01\r"
    yield sim
    await sim.stop()


async def powered_on(sim: PjlinkSimulator, clock: ManualClock) -> Client:
    client = await session(sim)
    assert await client.ask(b"%1POWR 1\r") == b"%1POWR=OK\r"
    clock.advance(30)
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=1\r"
    return client


# --- greeting and authentication (§5) ---------------------------------------------------------


async def test_projector_without_password_greets_with_pjlink_0(projector):
    client = await Client.connect(projector)
    assert await client.line() == b"PJLINK 0\r"
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=0\r"
    client.close()


async def test_projector_with_password_greets_with_a_new_random_each_connection(clock):
    async with PjlinkSimulator(password="secret", clock=clock, udp=False) as sim:
        first, second = await Client.connect(sim), await Client.connect(sim)
        greetings = [await first.line(), await second.line()]
        for greeting in greetings:
            assert re.fullmatch(rb"PJLINK 1 [0-9a-f]{8}\r", greeting)
        assert greetings[0] != greetings[1]
        first.close()
        second.close()


async def test_the_specification_example_digest_authenticates_the_first_command(clock):
    async with PjlinkSimulator(password=SPEC_PASSWORD, random_source=lambda: SPEC_RANDOM, clock=clock,
                               udp=False) as sim:
        client = await Client.connect(sim)
        assert await client.line() == b"PJLINK 1 498e4a67\r"
        assert await client.ask(SPEC_DIGEST + b"%1POWR ?\r") == b"%1POWR=0\r"
        # Later commands of the same connection need no digest; a repeated correct one is accepted.
        assert await client.ask(b"%1CLSS ?\r") == b"%1CLSS=2\r"
        assert await client.ask(SPEC_DIGEST + b"%1ERST ?\r") == b"%1ERST=000000\r"
        client.close()


@pytest.mark.parametrize("first_command", [
    b"00000000000000000000000000000000%1POWR ?\r",  # wrong digest
    b"%1POWR ?\r",  # no digest at all
])
async def test_a_wrong_or_missing_digest_gets_erra_and_the_connection_is_closed(clock, first_command):
    async with PjlinkSimulator(password=SPEC_PASSWORD, random_source=lambda: SPEC_RANDOM, clock=clock,
                               udp=False) as sim:
        client = await Client.connect(sim)
        assert await client.line() == b"PJLINK 1 498e4a67\r"
        assert await client.ask(first_command) == b"PJLINK ERRA\r"
        assert await client.is_closed_by_projector()


# --- power, warm-up and cool-down (§4.1, §4.2) --------------------------------------------------


async def test_power_on_warms_up_then_is_on(projector, clock):
    client = await session(projector)
    assert await client.ask(b"%1POWR 1\r") == b"%1POWR=OK\r"
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=3\r"
    clock.advance(29.9)
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=3\r"
    clock.advance(0.1)
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=1\r"
    client.close()


async def test_while_warming_up_commands_get_err3(projector):
    client = await session(projector)
    await client.ask(b"%1POWR 1\r")
    assert await client.ask(b"%1POWR 0\r") == b"%1POWR=ERR3\r"
    assert await client.ask(b"%1INPT 32\r") == b"%1INPT=ERR3\r"
    assert await client.ask(b"%1AVMT 31\r") == b"%1AVMT=ERR3\r"
    assert await client.ask(b"%2FREZ 1\r") == b"%2FREZ=ERR3\r"
    client.close()


async def test_power_off_cools_down_then_standby(projector, clock):
    client = await powered_on(projector, clock)
    assert await client.ask(b"%1POWR 0\r") == b"%1POWR=OK\r"
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=2\r"
    assert await client.ask(b"%1POWR 1\r") == b"%1POWR=ERR3\r"  # not while cooling
    clock.advance(20)
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=0\r"
    client.close()


async def test_in_standby_picture_commands_get_err3_and_status_queries_answer(projector):
    client = await session(projector)
    assert await client.ask(b"%1INPT ?\r") == b"%1INPT=ERR3\r"
    assert await client.ask(b"%1AVMT ?\r") == b"%1AVMT=ERR3\r"
    assert await client.ask(b"%2IRES ?\r") == b"%2IRES=ERR3\r"
    assert await client.ask(b"%2FREZ ?\r") == b"%2FREZ=ERR3\r"
    assert await client.ask(b"%1ERST ?\r") == b"%1ERST=000000\r"
    assert await client.ask(b"%1LAMP ?\r") == b"%1LAMP=1200 0\r"
    assert await client.ask(b"%1POWR 0\r") == b"%1POWR=OK\r"  # already in standby: nothing to do
    client.close()


async def test_lamp_and_filter_hours_grow_while_the_lamp_is_lit(projector, clock):
    client = await session(projector)
    assert await client.ask(b"%1LAMP ?\r") == b"%1LAMP=1200 0\r"
    assert await client.ask(b"%2FILT ?\r") == b"%2FILT=300\r"
    await client.ask(b"%1POWR 1\r")
    clock.advance(2 * 3600)
    assert await client.ask(b"%1LAMP ?\r") == b"%1LAMP=1202 1\r"
    assert await client.ask(b"%2FILT ?\r") == b"%2FILT=302\r"
    await client.ask(b"%1POWR 0\r")
    clock.advance(5 * 3600)  # in standby the hours stand still
    assert await client.ask(b"%1LAMP ?\r") == b"%1LAMP=1202 0\r"
    client.close()


# --- inputs, mutes and class rules --------------------------------------------------------------


async def test_input_selection_needs_an_input_the_projector_has(projector, clock):
    client = await powered_on(projector, clock)
    assert await client.ask(b"%1INPT ?\r") == b"%1INPT=31\r"
    assert await client.ask(b"%1INPT 32\r") == b"%1INPT=OK\r"
    assert await client.ask(b"%2INPT ?\r") == b"%2INPT=32\r"
    assert await client.ask(b"%1INPT 39\r") == b"%1INPT=ERR2\r"  # no such terminal
    assert await client.ask(b"%1INPT 71\r") == b"%1INPT=ERR2\r"  # no such input type
    client.close()


async def test_class_1_lists_and_selects_only_what_class_1_can_name(clock):
    async with PjlinkSimulator(clock=clock, warmup=0, udp=False, inputs=["31", "3A", "61"]) as sim:
        client = await session(sim)
        assert await client.ask(b"%1INST ?\r") == b"%1INST=31\r"
        assert await client.ask(b"%2INST ?\r") == b"%2INST=31 3A 61\r"
        assert await client.ask(b"%1POWR 1\r") == b"%1POWR=OK\r"
        assert await client.ask(b"%1INPT 3A\r") == b"%1INPT=ERR2\r"
        assert await client.ask(b"%1INPT 61\r") == b"%1INPT=ERR2\r"
        assert await client.ask(b"%2INPT 3A\r") == b"%2INPT=OK\r"
        assert await client.ask(b"%2INPT 61\r") == b"%2INPT=OK\r"
        assert await client.ask(b"%2INNM ?3A\r") == b"%2INNM=Digital A\r"
        client.close()


async def test_av_mute_sets_and_reports_video_and_audio(projector, clock):
    client = await powered_on(projector, clock)
    assert await client.ask(b"%1AVMT ?\r") == b"%1AVMT=30\r"
    for request, status in [(b"11", b"11"), (b"21", b"31"), (b"10", b"21"), (b"20", b"30"), (b"31", b"31"),
                            (b"30", b"30")]:
        assert await client.ask(b"%1AVMT " + request + b"\r") == b"%1AVMT=OK\r"
        assert await client.ask(b"%1AVMT ?\r") == b"%1AVMT=" + status + b"\r"
    assert await client.ask(b"%1AVMT 41\r") == b"%1AVMT=ERR2\r"
    client.close()


async def test_class_2_bodies_sent_as_class_1_are_undefined(projector):
    client = await session(projector)
    assert await client.ask(b"%1SNUM ?\r") == b"%1SNUM=ERR1\r"
    assert await client.ask(b"%1FREZ ?\r") == b"%1FREZ=ERR1\r"
    assert await client.ask(b"%2POWR ?\r") == b"%2POWR=ERR1\r"  # POWR is a class 1 command only
    assert await client.ask(b"%1XYZW ?\r") == b"%1XYZW=ERR1\r"
    assert await client.ask(b"%1POWR 7\r") == b"%1POWR=ERR2\r"
    client.close()


async def test_identity_and_class_2_queries(projector, clock):
    client = await session(projector)
    for request, reply in [
        (b"%1CLSS ?\r", b"%1CLSS=2\r"),
        (b"%1NAME ?\r", b"%1NAME=roomctl-projector\r"),
        (b"%1INF1 ?\r", b"%1INF1=ROOMCTL\r"),
        (b"%1INF2 ?\r", b"%1INF2=PJ-SIM 2\r"),
        (b"%1INFO ?\r", b"%1INFO=roomctl PJLink simulator\r"),
        (b"%2SNUM ?\r", b"%2SNUM=SIM0000001\r"),
        (b"%2SVER ?\r", b"%2SVER=2.00\r"),
        (b"%2INNM ?32\r", b"%2INNM=HDMI 2\r"),
        (b"%2INNM ?39\r", b"%2INNM=ERR2\r"),
        (b"%2RRES ?\r", b"%2RRES=1920x1080\r"),
        (b"%2RLMP ?\r", b"%2RLMP=LMP-SIM1\r"),
        (b"%2RFIL ?\r", b"%2RFIL=FLT-SIM1\r"),
    ]:
        assert await client.ask(request) == reply
    client.close()


async def test_input_resolution_freeze_and_volume_while_on(projector, clock):
    client = await powered_on(projector, clock)
    assert await client.ask(b"%2IRES ?\r") == b"%2IRES=1920x1080\r"  # a source on HDMI 1
    await client.ask(b"%1INPT 32\r")
    assert await client.ask(b"%2IRES ?\r") == b"%2IRES=-\r"  # nothing plugged into HDMI 2
    assert await client.ask(b"%2FREZ 1\r") == b"%2FREZ=OK\r"
    assert await client.ask(b"%2FREZ ?\r") == b"%2FREZ=1\r"
    assert await client.ask(b"%2FREZ 2\r") == b"%2FREZ=ERR2\r"
    assert await client.ask(b"%2SVOL 1\r") == b"%2SVOL=OK\r"
    assert await client.ask(b"%2MVOL 0\r") == b"%2MVOL=OK\r"
    assert await client.ask(b"%2SVOL 5\r") == b"%2SVOL=ERR2\r"
    client.close()


# --- device faults (§4.7 ERST) -------------------------------------------------------------------


@pytest.mark.parametrize("fault, error_status", [
    (Fault.FAN, b"200000"),
    (Fault.LAMP_FAILURE, b"020000"),
    (Fault.OVER_TEMPERATURE, b"002000"),
    (Fault.COVER_OPEN, b"000200"),
    (Fault.FILTER, b"000020"),
])
async def test_error_status_shows_each_device_fault(projector, fault, error_status):
    client = await session(projector)
    projector.inject(fault)
    assert await client.ask(b"%1ERST ?\r") == b"%1ERST=" + error_status + b"\r"
    projector.clear_faults()
    assert await client.ask(b"%1ERST ?\r") == b"%1ERST=000000\r"
    client.close()


@pytest.mark.parametrize("options, error_status", [
    ({"lamp_hours": 4000}, b"010000"),  # lamp past its rated life
    ({"filter_hours": 2000}, b"000010"),  # filter due for cleaning
])
async def test_worn_lamp_or_filter_is_a_warning(clock, options, error_status):
    async with PjlinkSimulator(clock=clock, udp=False, **options) as sim:
        client = await session(sim)
        assert await client.ask(b"%1ERST ?\r") == b"%1ERST=" + error_status + b"\r"
        client.close()


async def test_lamp_failure_puts_the_lamp_out_and_power_on_fails(projector, clock):
    client = await powered_on(projector, clock)
    projector.inject(Fault.LAMP_FAILURE)
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=0\r"
    assert await client.ask(b"%1LAMP ?\r") == b"%1LAMP=1200 0\r"
    assert await client.ask(b"%1POWR 1\r") == b"%1POWR=ERR4\r"
    client.close()


async def test_over_temperature_cools_the_projector_down(projector, clock):
    client = await powered_on(projector, clock)
    projector.inject(Fault.OVER_TEMPERATURE)
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=2\r"
    clock.advance(20)
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=0\r"
    assert await client.ask(b"%1POWR 1\r") == b"%1POWR=ERR4\r"
    client.close()


# --- link faults ------------------------------------------------------------------------------------


async def test_no_reply_swallows_commands_until_cleared(projector):
    client = await session(projector)
    projector.inject(Fault.NO_REPLY)
    client.writer.write(b"%1POWR ?\r")
    assert await client.hears_nothing()
    projector.clear_faults()
    assert await client.ask(b"%1CLSS ?\r") == b"%1CLSS=2\r"
    client.close()


async def test_slow_reply_answers_after_the_delay(projector):
    client = await session(projector)
    projector.inject(Fault.SLOW_REPLY, delay=0.3)
    start = time.monotonic()
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=0\r"
    assert time.monotonic() - start >= 0.3
    client.close()


async def test_garbled_reply_keeps_its_length_and_terminator(projector):
    client = await session(projector)
    projector.inject(Fault.GARBLED)
    reply = await client.ask(b"%1POWR ?\r")
    assert reply != b"%1POWR=0\r"
    assert len(reply) == len(b"%1POWR=0\r") and reply.endswith(b"\r")
    client.close()


async def test_partial_reply_sends_half_an_answer_then_nothing(projector):
    client = await session(projector)
    projector.inject(Fault.PARTIAL)
    client.writer.write(b"%1POWR ?\r")
    assert await asyncio.wait_for(client.reader.read(100), TIMEOUT) == b"%1PO"
    client.writer.write(b"%1CLSS ?\r")
    assert await client.hears_nothing()
    client.close()


async def test_disconnect_drops_connections_and_refuses_new_ones(projector):
    client = await session(projector)
    projector.inject(Fault.DISCONNECT)
    assert await client.is_closed_by_projector()
    with pytest.raises(ConnectionRefusedError):  # the cable is out: nothing answers at all
        await Client.connect(projector)
    projector.clear_faults()
    await projector.listening()
    client = await session(projector)
    assert await client.ask(b"%1POWR ?\r") == b"%1POWR=0\r"
    client.close()


async def test_reboot_drops_connections_and_comes_back_in_standby_with_lkup(projector, clock, inbox):
    client = await powered_on(projector, clock)
    await client.ask(b"%1AVMT 31\r")
    assert await inbox.next() == b"%2POWR=3\r"
    assert await inbox.next() == b"%2POWR=1\r"
    projector.inject(Fault.REBOOT, reboot_time=1.0)
    assert await client.is_closed_by_projector()
    assert await inbox.next() == b"%2LKUP=00:00:5e:00:53:01\r"  # network up again after the reboot
    client = await powered_on(projector, clock)  # it came back in standby
    assert await client.ask(b"%1AVMT ?\r") == b"%1AVMT=30\r"  # and with nothing muted
    client.close()


async def test_idle_connection_is_closed_by_the_projector(clock):
    async with PjlinkSimulator(clock=clock, udp=False, idle_timeout=0.3) as sim:
        client = await session(sim)
        assert await client.is_closed_by_projector()


# --- class 2 over UDP --------------------------------------------------------------------------------


async def test_search_is_answered_with_the_mac_to_the_sender(projector, inbox):
    inbox.transport.sendto(b"%2SRCH\r", ("127.0.0.1", projector.udp_port))
    data, sender = await asyncio.wait_for(inbox.datagrams.get(), TIMEOUT)
    assert data == b"%2ACKN=00:00:5e:00:53:01\r"
    assert sender[1] == projector.udp_port


async def test_status_changes_are_notified(projector, clock, inbox):
    client = await session(projector)
    await client.ask(b"%1POWR 1\r")
    assert await inbox.next() == b"%2POWR=3\r"
    clock.advance(30)  # the warm-up ends on the clock, with no command to see it
    assert await inbox.next() == b"%2POWR=1\r"
    await client.ask(b"%1INPT 32\r")
    assert await inbox.next() == b"%2INPT=32\r"
    projector.inject(Fault.LAMP_FAILURE)
    assert {await inbox.next(), await inbox.next()} == {b"%2POWR=0\r", b"%2ERST=020000\r"}
    client.close()


# --- configuration -------------------------------------------------------------------------------------


def test_replies_longer_than_the_specification_allows_are_refused():
    with pytest.raises(ValueError, match="NAME"):
        PjlinkSimulator(name="x" * 65)
    with pytest.raises(ValueError, match="INF1"):
        PjlinkSimulator(manufacturer="x" * 33)
    with pytest.raises(ValueError, match="not a PJLink input"):
        PjlinkSimulator(inputs=["71"])


def test_command_line_options_build_the_simulator(clock):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    PjlinkSimulator.add_arguments(parser)
    args = parser.parse_args(["--password", "pw", "--warmup", "5", "--no-udp", "--notify", "127.0.0.1:9999"])
    sim = PjlinkSimulator.from_options(vars(args) | {"protocol": "pjlink"}, clock=clock)
    assert sim.password == "pw" and sim.projector.warmup == 5.0 and sim.projector.cooldown == 20.0
    assert sim.udp is False and sim.notify == ("127.0.0.1", 9999)
    assert sim.endpoint() == {"host": "127.0.0.1", "port": 0}
