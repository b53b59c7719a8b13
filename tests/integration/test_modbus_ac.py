"""The Modbus RTU air-conditioning driver against the gateway simulator (pymodbus's own
RTU server) over real pseudo-terminals, paced at 9600 baud."""

from __future__ import annotations

import pytest

from drivers.capabilities import FanSpeed, HvacAction, HvacMode, Power
from drivers.climate.modbus_ac import ModbusAcOptions, ModbusAirConditioner
from drivers.commands import parse_command
from drivers.errors import DeviceRejected, InvalidCommand
from drivers.status import Status
from drivers.supervisor import Supervisor
from drivers.transports.serial import SerialTransport
from helpers import wait_for_status, wait_until
from mqtt_legs import HandClock
from simulators.modbus_ac import ModbusAcSimulator

TIMEOUT = 0.3  # a 6-register read at 9600 baud takes ~30 ms on the wire
RECOVERY = 5.0


class AcRoom:
    def __init__(self, sim: ModbusAcSimulator, clock: HandClock, supervisor: Supervisor) -> None:
        self.sim, self.clock, self.supervisor = sim, clock, supervisor
        self.device: ModbusAirConditioner = supervisor.device

    async def execute(self, payload: dict) -> None:
        await self.supervisor.execute(parse_command(payload))

    async def status(self, status: Status, within: float) -> None:
        await wait_for_status(self.supervisor, status, within=within)


@pytest.fixture
async def ac_room():
    clock = HandClock()
    sim = ModbusAcSimulator(clock=clock, temperature=30.0, outside=32.0)
    await sim.start()
    # The driver allows 35 °C; this gateway's unit stops at 30: the unit's refusal must show.
    options = ModbusAcOptions(setpoint_max=35.0)
    device = ModbusAirConditioner("ac", SerialTransport(sim.address, baudrate=9600), options=options, timeout=TIMEOUT)
    supervisor = Supervisor(device, poll_interval=0.2)
    supervisor.start()
    room = AcRoom(sim, clock, supervisor)
    try:
        await room.status(Status.ONLINE, within=RECOVERY)
        yield room
    finally:
        await supervisor.stop()
        await sim.stop()


async def test_unit_comes_online_with_its_registers_read_as_typed_state(ac_room):
    state = ac_room.device.state
    assert state["power"] is Power.OFF and state["hvac_mode"] is HvacMode.OFF
    assert state["temperature"] == 30.0 and state["setpoint"] == 24.0
    assert state["fan_speed"] is FanSpeed.AUTO and not state["alarm"].active
    assert set(ac_room.device.capabilities) >= {"power", "temperature", "setpoint", "hvac_mode", "fan_speed", "alarms"}


async def test_precooling_brings_the_room_to_23_degrees_in_the_models_time(ac_room):
    room = ac_room
    await room.execute({"type": "hvac_mode", "mode": "cool"})
    await room.execute({"type": "setpoint", "celsius": 23})
    await room.execute({"type": "fan_speed", "speed": "high"})
    assert (room.sim.unit.on, room.sim.unit.mode, room.sim.unit.setpoint, room.sim.unit.fan) == (True, "cool", 23.0, "high")
    assert room.device.state["hvac_action"] is HvacAction.COOLING
    room.clock.advance(2400)  # 40 min; simulators.thermal says 2427 s from 30 °C with 32 °C outside
    await wait_until(lambda: 23.0 < room.device.state["temperature"] <= 23.1, within=2, what="almost there")
    room.clock.advance(60)
    await wait_until(lambda: room.device.state["temperature"] == 23.0, within=2, what="23 °C")
    await wait_until(lambda: room.device.state["hvac_action"] is HvacAction.IDLE, within=2, what="holding")
    await room.execute({"type": "hvac_mode", "mode": "off"})
    assert room.device.state["power"] is Power.OFF and not room.sim.unit.on


async def test_commands_are_checked_before_the_wire_and_a_unit_refusal_is_typed(ac_room):
    room = ac_room
    before = room.sim.writes
    with pytest.raises(InvalidCommand):
        await room.execute({"type": "setpoint", "celsius": 36})  # beyond the configured range
    with pytest.raises(InvalidCommand):
        await room.execute({"type": "setpoint", "celsius": 22.2})  # not a 0.5 step
    assert room.sim.writes == before  # nothing reached the unit
    with pytest.raises(DeviceRejected) as refused:
        await room.execute({"type": "setpoint", "celsius": 33})  # the unit itself refuses: Modbus exception 3
    assert "exception 3" in refused.value.code
    assert room.device.state["setpoint"] == 24.0


@pytest.mark.parametrize("fault", ["no_reply", "garbled", "disconnect", "slow_reply"])
async def test_a_silent_or_noisy_line_is_offline_within_twice_the_timeout_and_recovers(ac_room, fault):
    room = ac_room
    room.sim.inject(fault, delay=4 * TIMEOUT)
    await room.status(Status.OFFLINE, within=2 * TIMEOUT + 0.3)
    room.sim.clear_faults()
    await room.status(Status.ONLINE, within=RECOVERY)


@pytest.mark.parametrize("fault, code", [("filter", 9), ("fan", 5), ("over_temperature", 7)])
async def test_an_alarm_is_a_fault_with_its_meaning_until_cleared(ac_room, fault, code):
    room = ac_room
    room.sim.inject(fault)
    await room.status(Status.FAULT, within=2.0)
    assert room.supervisor.reason.startswith(f"alarm {code}: ")
    room.sim.clear_faults()
    await room.status(Status.ONLINE, within=2.0)
