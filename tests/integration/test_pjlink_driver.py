"""The PJLink driver against the PJLink simulator over real TCP (and UDP) on 127.0.0.1."""

import asyncio
import time

import pytest

from drivers.capabilities import AVMute, Level, Power
from drivers.commands import SelectInput, SetAVMute, SetFreeze, SetPower
from drivers.errors import InvalidCommand
from drivers.projector.pjlink import PjlinkOptions, PjlinkProjector, search
from drivers.status import Status
from drivers.supervisor import Supervisor
from drivers.transports.tcp import TcpTransport
from helpers import FakeClock, wait_for_status, wait_until
from simulators.pjlink import PjlinkSimulator

TIMEOUT = 0.3
PASSWORD = "JBMIAProjectorLink"


class PjlinkRoom:
    def __init__(self, sim: PjlinkSimulator, clock: FakeClock, supervisor: Supervisor) -> None:
        self.sim, self.clock, self.supervisor = sim, clock, supervisor
        self.device: PjlinkProjector = supervisor.device
        self.timeout = TIMEOUT

    async def wait_for_status(self, status: Status, within: float) -> float:
        return await wait_for_status(self.supervisor, status, within=within)

    async def wait_for_state(self, key: str, value, within: float = 3.0) -> None:
        await wait_until(lambda: self.device.state.get(key) == value, within=within, what=f"{key} == {value!r}")


async def make_room(*, password=PASSWORD, driver_password=PASSWORD, poll_interval=0.2, **sim_options):
    clock = FakeClock()
    sim = PjlinkSimulator(password=password, warmup=30, cooldown=30, clock=clock, **sim_options)
    await sim.start()
    options = PjlinkOptions(password=driver_password, busy_retry_for=5)
    device = PjlinkProjector("proj", TcpTransport(sim.host, sim.port), options=options, timeout=TIMEOUT)
    supervisor = Supervisor(device, poll_interval=poll_interval)
    supervisor.start()
    return PjlinkRoom(sim, clock, supervisor)


@pytest.fixture
async def pjlink_room():
    room = await make_room()
    await room.wait_for_status(Status.ONLINE, within=5)
    yield room
    await room.supervisor.stop()
    await room.sim.stop()


async def test_projector_comes_online_with_identity_and_inputs(pjlink_room):
    device = pjlink_room.device
    identity = device.state["identity"]
    assert identity.protocol == "PJLink class 2"
    assert identity.manufacturer and identity.model
    assert "digital1" in device.available_inputs()
    assert device.state["power"] is Power.OFF
    assert device.state["errors"].worst() is Level.OK
    assert set(device.capabilities) >= {"power", "input", "av_mute", "lamps", "errors", "identity"}


async def test_power_on_warms_up_then_input_waits_out_err3(pjlink_room):
    room = pjlink_room
    await room.supervisor.execute(SetPower(on=True))
    await room.wait_for_state("power", Power.WARMING_UP)
    # While warming the projector answers ERR3: the driver retries instead of failing.
    selecting = asyncio.create_task(room.supervisor.execute(SelectInput(input="digital1")))
    await wait_until(lambda: room.sim.requests_seen("INPT") >= 1, within=3, what="an INPT attempt")
    assert not selecting.done()
    room.clock.advance(31)
    await asyncio.wait_for(selecting, 5)
    await room.wait_for_state("power", Power.ON)
    await room.wait_for_state("input", "digital1")
    assert room.supervisor.status is Status.ONLINE  # ERR3 while warming is not a fault


async def test_mute_freeze_and_lamp_hours(pjlink_room):
    room = pjlink_room
    await room.supervisor.execute(SetPower(on=True))
    room.clock.advance(31)
    await room.wait_for_state("power", Power.ON)
    await room.supervisor.execute(SetAVMute(video=True, audio=True))
    await room.wait_for_state("av_mute", AVMute(video=True, audio=True))
    await room.supervisor.execute(SetAVMute(audio=False))
    await room.wait_for_state("av_mute", AVMute(video=True, audio=False))
    await room.supervisor.execute(SetFreeze(on=True))
    await room.wait_for_state("freeze", True)
    hours = room.device.state["lamps"][0].hours
    room.clock.advance(3 * 3600)
    await wait_until(lambda: room.device.state["lamps"][0].hours >= hours + 3, within=3, what="lamp hours grow")


async def test_commands_are_validated_before_anything_is_sent(pjlink_room):
    room = pjlink_room
    sent = room.sim.requests_seen("INPT")
    with pytest.raises(InvalidCommand):
        await room.supervisor.execute(SelectInput(input="hdmi9"))  # not one of the projector's inputs
    assert room.sim.requests_seen("INPT") == sent


async def test_wrong_password_is_bad_config_not_offline():
    room = await make_room(driver_password="wrong")
    try:
        await room.wait_for_status(Status.BAD_CONFIG, within=3)
        assert "password" in room.supervisor.reason
    finally:
        await room.supervisor.stop()
        await room.sim.stop()


async def test_projector_without_password_needs_none():
    room = await make_room(password=None, driver_password=None)
    try:
        await room.wait_for_status(Status.ONLINE, within=3)
    finally:
        await room.supervisor.stop()
        await room.sim.stop()


SILENCING_FAULTS = ["no_reply", "slow_reply", "garbled", "partial", "disconnect"]


@pytest.mark.parametrize("fault", SILENCING_FAULTS)
async def test_projector_goes_offline_when_it_stops_answering_and_recovers(pjlink_room, fault):
    room = pjlink_room
    room.sim.inject(fault, delay=10 * TIMEOUT)
    took = await room.wait_for_status(Status.OFFLINE, within=2 * TIMEOUT + 0.2)
    # "within twice its timeout", plus scheduling slack on a shared machine
    assert took <= 2 * TIMEOUT + 0.2
    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=5.0)


async def test_reboot_drops_the_projector_briefly_then_it_is_back(pjlink_room):
    room = pjlink_room
    await room.supervisor.execute(SetPower(on=True))
    room.clock.advance(31)
    await room.wait_for_state("power", Power.ON)
    room.sim.inject("reboot", reboot_time=1.0)
    await room.wait_for_status(Status.OFFLINE, within=2 * TIMEOUT + 0.2)
    await room.wait_for_status(Status.ONLINE, within=5.0)
    await room.wait_for_state("power", Power.OFF)  # it came back in standby


@pytest.mark.parametrize("fault, component", [
    ("lamp_failure", "lamp"),
    ("cover_open", "cover"),
    ("over_temperature", "temperature"),
    ("fan", "fan"),
])
async def test_device_faults_show_as_fault_status(pjlink_room, fault, component):
    room = pjlink_room
    room.sim.inject(fault)
    await room.wait_for_status(Status.FAULT, within=3)
    assert component in room.supervisor.reason
    assert getattr(room.device.state["errors"], component) is Level.ERROR
    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=5)


async def test_filter_warning_keeps_the_projector_online(pjlink_room):
    room = pjlink_room
    room.sim.inject("filter")
    await wait_until(lambda: room.device.state["errors"].filter is not Level.OK, within=3, what="filter warning")
    if room.device.state["errors"].filter is Level.WARNING:
        assert room.supervisor.status is Status.ONLINE


async def test_a_dead_projector_never_delays_another():
    alive, dead = await make_room(), await make_room()
    try:
        await alive.wait_for_status(Status.ONLINE, within=5)
        await dead.wait_for_status(Status.ONLINE, within=5)
        dead.sim.inject("no_reply")
        await dead.wait_for_status(Status.OFFLINE, within=1)
        before = alive.sim.requests_seen("POWR")
        start = time.monotonic()
        await wait_until(lambda: alive.sim.requests_seen("POWR") >= before + 5, within=3, what="alive keeps polling")
        # five polls at 0.2 s: a blocked loop would take the dead one's timeouts too
        assert time.monotonic() - start < 5 * (0.2 + TIMEOUT)
        assert alive.supervisor.status is Status.ONLINE
    finally:
        for room in (alive, dead):
            await room.supervisor.stop()
            await room.sim.stop()


async def test_idle_connection_closed_by_the_projector_is_reopened_quietly():
    # Real projectors hang up after ~30 s of silence; here after 0.15 s, probed every 0.24 s.
    room = await make_room(poll_interval=0.5, idle_timeout=0.15)
    statuses = []
    room.supervisor._on_status = lambda status, reason: statuses.append(status)
    try:
        await room.wait_for_status(Status.ONLINE, within=5)
        await wait_until(lambda: room.sim.connections_opened >= 4, within=5, what="several reconnects")
        assert Status.OFFLINE not in statuses
    finally:
        await room.supervisor.stop()
        await room.sim.stop()


async def test_class2_search_finds_the_simulator_over_udp():
    sim = PjlinkSimulator(clock=FakeClock(), udp_port=0)
    await sim.start()
    try:
        found = await search("127.0.0.1", sim.udp_port, timeout=0.5)
        assert [f.host for f in found] == ["127.0.0.1"]
        assert found[0].mac == sim.mac.lower()
    finally:
        await sim.stop()


async def test_a_device_that_floods_bytes_is_dropped_and_retried():
    """A peer that sends endless bytes with no frame end: offline, not a memory leak."""
    floods = 0

    async def flood(reader, writer):
        nonlocal floods
        floods += 1
        writer.write(b"PJLINK 0\r")
        try:
            while True:
                writer.write(b"x" * 256)
                await writer.drain()
                await asyncio.sleep(0)  # let the loop breathe between floods
        except (ConnectionError, OSError):
            pass

    server = await asyncio.start_server(flood, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    device = PjlinkProjector("chatty", TcpTransport("127.0.0.1", port), timeout=TIMEOUT)
    supervisor = Supervisor(device, poll_interval=0.2)
    supervisor.start()
    try:
        await wait_for_status(supervisor, Status.OFFLINE, within=3)
        assert "longer than" in supervisor.reason
        await wait_until(lambda: floods >= 2, within=5, what="a reconnect attempt")
    finally:
        await supervisor.stop()
        server.close()


async def test_class2_lookup_announcement_is_heard_when_the_projector_comes_up():
    from drivers.projector.pjlink import Announcements

    async with Announcements(host="127.0.0.1", port=0) as announcements:
        sim = PjlinkSimulator(clock=FakeClock(), udp_port=0, notify=("127.0.0.1", announcements.port))
        await sim.start()
        try:
            found = await announcements.next(timeout=3)
            assert (found.mac, found.host) == (sim.mac.lower(), "127.0.0.1")
        finally:
            await sim.stop()
