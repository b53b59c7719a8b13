"""The ESC/VP21 driver against the simulator, over a real pseudo-terminal at 9600 baud."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import pytest

from drivers.capabilities import AVMute, ErrorStatus, Level, Power
from drivers.commands import parse_command
from drivers.errors import DeviceBusy, DeviceRejected, InvalidCommand
from drivers.projector.escvp21 import EscVp21Options, EscVp21Projector
from drivers.status import Status
from drivers.supervisor import Supervisor
from drivers.transports.serial import SerialTransport
from helpers import FakeClock, wait_for_status, wait_until
from simulators.escvp21 import EscVp21Simulator
from simulators.faults import Fault

TIMEOUT = 0.5  # per request; a PWR? round trip at 9600 baud takes 14 ms
# Polls run more often than the timeout. With the heartbeat at the full timeout, a
# device that dies while its last answer is still on the wire is declared offline a few
# ms past 2 × timeout (the heartbeat counts from the end of that answer).
POLL_INTERVAL = 0.25
# Longer than a poll cycle, so a regular poll sees each transition: a refresh_soon() that
# a command asks for while a poll is running is lost (the supervisor clears its wake-up
# flag before the next wait).
WARMUP = 1.0
COOLDOWN = 1.0
RECOVERY = 5.0  # a device that answers again is online within this (supervisor contract)
SETTLE = 3.0  # generous bound for state the next poll brings


@dataclass
class ProjectorRoom:
    sim: EscVp21Simulator
    device: EscVp21Projector
    supervisor: Supervisor
    power_seen: list[Power] = field(default_factory=list)
    statuses_seen: list[Status] = field(default_factory=list)
    timeout: float = TIMEOUT

    async def run(self, command: dict) -> None:
        await self.supervisor.execute(parse_command(command))

    async def wait_for_status(self, status: Status, *, within: float) -> float:
        """Seconds until the supervisor reports ``status``; fails past ``within``."""
        return await wait_for_status(self.supervisor, status, within=within)

    async def wait_for_state(self, key: str, value, *, within: float = SETTLE) -> None:
        await wait_until(lambda: self.device.state.get(key) == value, within=within, what=f"{key} == {value!r}")

    async def power_on(self) -> None:
        await self.run({"type": "power", "on": True})
        await self.wait_for_state("power", Power.ON)


@contextlib.asynccontextmanager
async def projector_room(*, options: EscVp21Options | None = None, clock=time.monotonic, **sim_options):
    sim_options = {"warmup": WARMUP, "cooldown": COOLDOWN, "lamp_hours": 1234} | sim_options
    async with EscVp21Simulator(clock=clock, **sim_options) as sim:
        device = EscVp21Projector("proj", SerialTransport(sim.address), options=options, timeout=TIMEOUT)
        statuses_seen: list[Status] = []
        supervisor = Supervisor(device, poll_interval=POLL_INTERVAL, on_status=lambda status, _: statuses_seen.append(status))
        room = ProjectorRoom(sim, device, supervisor, statuses_seen=statuses_seen)
        device.add_listener(lambda key, value: room.power_seen.append(value) if key == "power" else None)
        supervisor.start()
        try:
            await room.wait_for_status(Status.ONLINE, within=RECOVERY)
            yield room
        finally:
            await supervisor.stop()


@pytest.fixture
async def room():
    async with projector_room() as room:
        yield room


# --- normal operation -------------------------------------------------------------------


async def test_projector_in_standby_reports_identity_inputs_lamp_and_no_errors(room):
    state = room.device.state
    assert state["power"] is Power.OFF
    assert state["identity"].manufacturer == "Epson"
    assert state["identity"].protocol == "ESC/VP21"
    assert state["inputs"] == ("computer1", "computer2", "hdmi1", "hdmi2", "video", "usb", "lan")
    assert [(lamp.hours, lamp.on) for lamp in state["lamps"]] == [(1234, False)]
    assert state["errors"] == ErrorStatus()
    assert room.supervisor.status is Status.ONLINE


async def test_power_on_warms_up_then_the_lamp_is_on_and_power_off_cools_down(room):
    await room.run({"type": "power", "on": True})
    await room.wait_for_state("power", Power.ON)
    assert room.power_seen == [Power.OFF, Power.WARMING_UP, Power.ON]
    await wait_until(lambda: room.device.state["lamps"][0].on, within=SETTLE, what="lamp on")

    await room.run({"type": "power", "on": False})
    await room.wait_for_state("power", Power.OFF)
    assert room.power_seen[-3:] == [Power.ON, Power.COOLING_DOWN, Power.OFF]


async def test_input_and_av_mute_are_set_and_read_back(room):
    await room.power_on()
    await room.wait_for_state("input", "hdmi1")  # the projector's own default

    await room.run({"type": "input", "input": "hdmi2"})
    await room.run({"type": "av_mute", "video": True, "audio": True})
    assert room.sim.model.source == "A0"
    assert room.sim.model.muted

    await room.wait_for_state("input", "hdmi2")
    await room.wait_for_state("av_mute", AVMute(video=True, audio=True))


async def test_input_names_can_be_mapped_to_another_models_codes():
    options = EscVp21Options(inputs={"laptop": "10", "stage": "A0"})
    async with projector_room(options=options) as room:
        assert room.device.state["inputs"] == ("laptop", "stage")
        await room.power_on()
        await room.run({"type": "input", "input": "stage"})
        assert room.sim.model.source == "A0"
        # The projector's default HDMI 1 has no name here: input is unknown, not invented.
        room.sim.model.source = "30"
        await room.wait_for_state("input", None)


async def test_a_command_refused_while_warming_up_is_retried_until_it_succeeds():
    async with projector_room(warmup=0.5) as room:
        await room.run({"type": "power", "on": True})
        started = time.monotonic()
        await room.run({"type": "input", "input": "video"})  # ERR at first: still warming up
        assert time.monotonic() - started >= 0.4
        assert room.sim.model.source == "41"
        await room.wait_for_state("input", "video")


async def test_a_command_still_refused_when_the_retry_window_ends_is_reported_busy():
    async with projector_room(warmup=30.0, options=EscVp21Options(busy_retry_for=0)) as room:
        await room.run({"type": "power", "on": True})
        with pytest.raises(DeviceBusy) as refused:
            await room.run({"type": "av_mute", "video": True})
        assert refused.value.code == "ERR"
        assert room.device.state["power"] is Power.WARMING_UP


async def test_a_command_refused_in_standby_is_rejected_at_once_not_retried(room):
    started = time.monotonic()
    with pytest.raises(DeviceRejected) as refused:
        await room.run({"type": "input", "input": "hdmi2"})
    assert not isinstance(refused.value, DeviceBusy)
    assert time.monotonic() - started < 2 * TIMEOUT


async def test_commands_the_projector_cannot_carry_out_are_refused_before_reaching_it(room):
    with pytest.raises(InvalidCommand):
        await room.run({"type": "input", "input": "sdi"})
    with pytest.raises(InvalidCommand):  # MUTE blanks picture and sound together
        await room.run({"type": "av_mute", "video": True, "audio": False})
    assert (room.sim.model.source, room.sim.model.muted) == ("30", False)


async def test_lamp_hours_grow_while_the_lamp_is_lit_and_stop_when_it_is_off():
    clock = FakeClock()
    async with projector_room(clock=clock, warmup=30.0, cooldown=30.0, lamp_hours=1234) as room:
        await room.run({"type": "power", "on": True})
        await room.wait_for_state("power", Power.WARMING_UP)
        clock.advance(31)  # a real warm-up, on the simulator's clock
        await room.wait_for_state("power", Power.ON)
        clock.advance(2 * 3600)
        await wait_until(lambda: room.device.state["lamps"][0].hours == 1236, within=SETTLE, what="1236 lamp hours")

        await room.run({"type": "power", "on": False})
        await room.wait_for_state("power", Power.COOLING_DOWN)
        clock.advance(31)
        await room.wait_for_state("power", Power.OFF)
        clock.advance(5 * 3600)
        room.supervisor.refresh_soon()
        await wait_until(lambda: not room.device.state["lamps"][0].on, within=SETTLE, what="lamp off")
        assert room.device.state["lamps"][0].hours == 1236


# --- faults -----------------------------------------------------------------------------

SILENCING_FAULTS = [
    pytest.param(Fault.NO_REPLY, {}, id="no_reply"),
    pytest.param(Fault.SLOW_REPLY, {"delay": 2 * TIMEOUT}, id="slow_reply"),
    pytest.param(Fault.GARBLED, {}, id="garbled"),
    pytest.param(Fault.PARTIAL, {}, id="partial"),
    pytest.param(Fault.DISCONNECT, {}, id="disconnect"),
]


@pytest.mark.parametrize("fault, params", SILENCING_FAULTS)
async def test_projector_that_stops_answering_is_offline_within_twice_its_timeout_and_recovers(room, fault, params):
    room.sim.inject(fault, **params)
    await room.wait_for_status(Status.OFFLINE, within=2 * room.timeout)  # measured from the injection

    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=RECOVERY)


async def test_projector_that_reboots_is_offline_then_back_in_standby(room):
    await room.power_on()
    room.sim.inject(Fault.REBOOT, reboot_time=1.0)
    await room.wait_for_status(Status.OFFLINE, within=2 * room.timeout)

    await room.wait_for_status(Status.ONLINE, within=1.0 + RECOVERY)
    assert room.device.state["power"] is Power.OFF


DEVICE_FAULTS = [
    pytest.param(Fault.LAMP_FAILURE, "lamp", id="lamp_failure"),
    pytest.param(Fault.OVER_TEMPERATURE, "temperature", id="over_temperature"),
    pytest.param(Fault.COVER_OPEN, "cover", id="cover_open"),
    pytest.param(Fault.FAN, "fan", id="fan"),
]


@pytest.mark.parametrize("fault, component", DEVICE_FAULTS)
async def test_hardware_fault_shuts_the_lamp_and_shows_as_fault_until_cleared(room, fault, component):
    await room.power_on()
    room.sim.inject(fault)
    await room.wait_for_status(Status.FAULT, within=SETTLE)
    assert component in room.supervisor.reason
    assert room.device.state["errors"].problems() == {component: Level.ERROR}
    await room.wait_for_state("power", Power.ABNORMAL_STANDBY)

    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=RECOVERY)
    await room.wait_for_state("errors", ErrorStatus())
    await room.wait_for_state("power", Power.OFF)


async def test_clogged_filter_is_a_warning_and_the_projector_stays_online_and_lit(room):
    await room.power_on()
    room.sim.inject(Fault.FILTER)
    await room.wait_for_state("errors", ErrorStatus(filter=Level.WARNING))
    assert room.supervisor.status is Status.ONLINE
    assert room.device.state["power"] is Power.ON

    room.sim.clear_faults()
    await room.wait_for_state("errors", ErrorStatus())
    assert Status.FAULT not in room.statuses_seen
