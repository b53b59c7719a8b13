"""Zigbee2MQTT lights and thermostats and Tasmota relays/dimmers against their simulators,
on a real broker — both legs: the embedded amqtt broker and the machine's Mosquitto."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from pydantic import ValidationError

from drivers.capabilities import HvacAction, HvacMode, Power
from drivers.climate.zigbee2mqtt import Zigbee2MqttThermostat, Zigbee2MqttThermostatOptions
from drivers.commands import parse_command
from drivers.errors import DeviceTimeout, DeviceUnreachable, InvalidCommand
from drivers.lights.tasmota import TasmotaDimmer, TasmotaOptions, TasmotaRelay
from drivers.lights.zigbee2mqtt import Zigbee2MqttLight, Zigbee2MqttLightOptions
from drivers.status import Status
from drivers.supervisor import Supervisor
from drivers.transports.mqtt import BrokerSettings, MqttConnection, MqttTransport
from helpers import wait_for_status, wait_until
from mqtt_legs import HandClock, broker, unique  # noqa: F401  (the fixture)
from simulators.mqtt import Broker
from simulators.tasmota import TasmotaSimulator
from simulators.zigbee2mqtt import Zigbee2MqttSimulator

TIMEOUT = 0.5  # a device's answer on a loopback broker takes milliseconds
POLL = 0.3
# A device back online is online within 5 s (supervisor backoff ≤ 3 s plus jitter and a read-back).
RECOVERY = 5.0
# An offline announcement (availability, last will) reaches the supervisor at once; allow scheduling slack.
ANNOUNCED = 1.0


class MqttRoom:
    def __init__(self, connection: MqttConnection, z2m: Zigbee2MqttSimulator, tasmota: TasmotaSimulator,
                 clock: HandClock) -> None:
        self.connection, self.z2m, self.tasmota, self.clock = connection, z2m, tasmota, clock
        self.supervisors: dict[str, Supervisor] = {}
        self.names: dict[str, str] = {}  # device id → its name on the simulator

    def add(self, device, sim_name: str) -> Supervisor:
        supervisor = Supervisor(device, poll_interval=POLL)
        self.supervisors[device.id] = supervisor
        self.names[device.id] = sim_name
        supervisor.start()
        return supervisor

    def __getitem__(self, device_id: str):
        return self.supervisors[device_id].device

    async def status(self, device_id: str, status: Status, within: float) -> float:
        """Wait for ``status``; return the monotonic time it was seen."""
        await wait_for_status(self.supervisors[device_id], status, within=within)
        return time.monotonic()

    async def execute(self, device_id: str, payload: dict) -> None:
        await self.supervisors[device_id].execute(parse_command(payload))

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.supervisors.values()))
        await self.z2m.stop()
        await self.tasmota.stop()
        await self.connection.stop()


async def make_room(leg, *, lights=("ceiling",), thermostats=("thermostat",), relays=("screen",),
                    dimmers=("spots",), room: dict | None = None) -> MqttRoom:
    clock = HandClock()
    sim_broker = Broker(leg.host, leg.port)
    base = unique("z2m")
    z2m = Zigbee2MqttSimulator(broker=sim_broker, base_topic=base, clock=clock)
    tasmota = TasmotaSimulator(broker=sim_broker, clock=clock)
    prefix = unique("t")
    for name in lights:
        z2m.add_light(name)
    for name in thermostats:
        z2m.add_thermostat(name, **(room or {}))
    for name in relays:
        tasmota.add_relay(f"{prefix}-{name}")
    for name in dimmers:
        tasmota.add_dimmer(f"{prefix}-{name}")
    await z2m.start()
    await tasmota.start()
    connection = MqttConnection(BrokerSettings(leg.host, leg.port))
    r = MqttRoom(connection, z2m, tasmota, clock)
    for name in lights:
        options = Zigbee2MqttLightOptions(friendly_name=name, base_topic=base)
        r.add(Zigbee2MqttLight(name, MqttTransport(connection, connect_timeout=TIMEOUT), options=options, timeout=TIMEOUT), name)
    for name in thermostats:
        options = Zigbee2MqttThermostatOptions(friendly_name=name, base_topic=base)
        r.add(Zigbee2MqttThermostat(name, MqttTransport(connection, connect_timeout=TIMEOUT), options=options, timeout=TIMEOUT), name)
    for cls, names in ((TasmotaRelay, relays), (TasmotaDimmer, dimmers)):
        for name in names:
            options = TasmotaOptions(topic=f"{prefix}-{name}")
            r.add(cls(name, MqttTransport(connection, connect_timeout=TIMEOUT), options=options, timeout=TIMEOUT), f"{prefix}-{name}")
    return r


@pytest.fixture
async def mqtt_room(broker):
    room = await make_room(broker)
    try:
        for device_id in room.supervisors:
            await room.status(device_id, Status.ONLINE, within=RECOVERY)
        yield room
    finally:
        await room.stop()


# --- lights -------------------------------------------------------------------------------


async def test_zigbee_light_obeys_and_reports_percent_while_the_wire_carries_0_to_254(mqtt_room):
    room = mqtt_room
    light = room["ceiling"]
    assert light.state["power"] is Power.OFF  # the bridge's report on connect, before any command
    await room.execute("ceiling", {"type": "brightness", "percent": 50, "transition": 1.5})
    assert light.state["power"] is Power.ON and light.state["brightness"] == 50
    name, sent = room.z2m.commands_seen[-1]
    assert name == "ceiling" and sent == {"brightness": 127, "transition": 1.5}
    assert room.z2m.devices["ceiling"].brightness == 127  # the lamp's own level, 0–254
    await room.execute("ceiling", {"type": "color_temperature", "kelvin": 2700})
    assert room.z2m.devices["ceiling"].color_temp == 370  # 1 000 000 / 2700 K
    assert light.state["color_temp_kelvin"] == 2703  # what the lamp reports back, in kelvin
    await room.execute("ceiling", {"type": "brightness", "percent": 0})
    assert light.state["power"] is Power.OFF
    await room.execute("ceiling", {"type": "power", "on": True})
    assert light.state["power"] is Power.ON and light.state["brightness"] == 50  # the lamp kept its level


async def test_light_commands_are_validated_before_anything_is_published(mqtt_room):
    room = mqtt_room
    sent = len(room.z2m.commands_seen)
    with pytest.raises(ValidationError):
        parse_command({"type": "brightness", "percent": 101})
    with pytest.raises(InvalidCommand):
        await room.execute("ceiling", {"type": "color_temperature", "kelvin": 9000})  # the lamp stops at 6536 K
    with pytest.raises(InvalidCommand):
        await room.execute("screen", {"type": "brightness", "percent": 40})  # a relay does not dim
    assert len(room.z2m.commands_seen) == sent


async def test_tasmota_relay_and_dimmer_confirm_from_their_own_result(mqtt_room):
    room = mqtt_room
    await room.execute("screen", {"type": "power", "on": True})
    assert room["screen"].state["power"] is Power.ON
    assert room.tasmota.devices[room.names["screen"]].on
    await room.execute("spots", {"type": "brightness", "percent": 35})
    spots = room.tasmota.devices[room.names["spots"]]
    assert (spots.on, spots.level) == (True, 35)
    assert room["spots"].state["brightness"] == 35 and room["spots"].state["power"] is Power.ON
    await room.execute("spots", {"type": "brightness", "percent": 0})  # Dimmer 0 is off in Tasmota
    assert room["spots"].state["power"] is Power.OFF


async def test_a_switch_flipped_at_the_device_shows_without_a_command(mqtt_room):
    room = mqtt_room
    light = room.z2m.devices["ceiling"]
    light.apply({"state": "ON", "brightness": 254})  # someone at the wall panel
    room.z2m._report("ceiling")
    await wait_until(lambda: room["ceiling"].state.get("brightness") == 100, within=2, what="the report")


# --- thermostat and the room --------------------------------------------------------------


async def test_thermostat_cools_the_room_on_the_clock_and_reports_what_it_is_doing(broker):
    room = await make_room(broker, lights=(), relays=(), dimmers=(), room={"temperature": 30.0, "outside": 32.0})
    try:
        await room.status("thermostat", Status.ONLINE, within=RECOVERY)
        thermostat = room["thermostat"]
        assert thermostat.state["temperature"] == 30.0
        assert thermostat.state["hvac_mode"] is HvacMode.OFF
        await room.execute("thermostat", {"type": "hvac_mode", "mode": "cool"})
        await room.execute("thermostat", {"type": "setpoint", "celsius": 23})
        assert room.z2m.devices["thermostat"].cooling == 23.0  # cool mode sets the cooling setpoint
        await wait_until(lambda: thermostat.state.get("hvac_action") is HvacAction.COOLING, within=2, what="cooling")
        room.clock.advance(20 * 60)  # 20 minutes: about halfway (the model says 40 min from 30 to 23 °C)
        await wait_until(lambda: 25.5 < thermostat.state["temperature"] < 27.0, within=2, what="room at ~26 °C")
        room.clock.advance(30 * 60)
        await wait_until(lambda: thermostat.state["temperature"] == 23.0, within=2, what="room at 23 °C")
        with pytest.raises(InvalidCommand):
            await room.execute("thermostat", {"type": "setpoint", "celsius": 23.3})  # steps of 0.5
        with pytest.raises(InvalidCommand):
            await room.execute("thermostat", {"type": "hvac_mode", "mode": "dry"})  # not one of its modes
    finally:
        await room.stop()


# --- faults -------------------------------------------------------------------------------

DEVICES = ["ceiling", "spots"]  # one Zigbee2MQTT light, one Tasmota dimmer


def _inject(room: MqttRoom, device_id: str, fault: str, **params) -> None:
    sim = room.z2m if device_id == "ceiling" else room.tasmota
    sim.inject(fault, device=room.names[device_id], **params)


def _clear(room: MqttRoom, device_id: str) -> None:
    sim = room.z2m if device_id == "ceiling" else room.tasmota
    sim.clear_faults(device=room.names[device_id])


@pytest.mark.parametrize("device_id", DEVICES)
async def test_a_device_that_drops_off_is_offline_at_once_and_back_when_it_returns(mqtt_room, device_id):
    room = mqtt_room
    injected = time.monotonic()
    _inject(room, device_id, "disconnect")  # Zigbee: availability offline; Tasmota: power cut, last will
    seen = await room.status(device_id, Status.OFFLINE, within=ANNOUNCED + TIMEOUT)
    assert seen - injected < ANNOUNCED + TIMEOUT
    reason = room.supervisors[device_id].reason
    assert "availability" in reason or "LWT" in reason
    others = [d for d in room.supervisors if d != device_id]
    assert all(room.supervisors[d].status is Status.ONLINE for d in others)  # one device's trouble is its own
    with pytest.raises(DeviceUnreachable):
        await room.execute(device_id, {"type": "power", "on": True})
    _clear(room, device_id)
    await room.status(device_id, Status.ONLINE, within=RECOVERY)
    await room.execute(device_id, {"type": "power", "on": True})


@pytest.mark.parametrize("device_id", DEVICES)
async def test_an_ignored_command_is_a_timeout_then_the_device_is_offline_until_it_answers(mqtt_room, device_id):
    room = mqtt_room
    _inject(room, device_id, "no_reply")
    with pytest.raises(DeviceTimeout):
        await room.execute(device_id, {"type": "power", "on": True})
    assert room[device_id].state["power"] is Power.OFF  # not assumed from the command
    await room.status(device_id, Status.OFFLINE, within=2 * TIMEOUT + POLL + 0.5)
    _clear(room, device_id)
    await room.status(device_id, Status.ONLINE, within=RECOVERY)


@pytest.mark.parametrize("device_id", DEVICES)
async def test_a_slow_confirmation_within_the_timeout_is_waited_for(mqtt_room, device_id):
    room = mqtt_room
    _inject(room, device_id, "slow_reply", delay=TIMEOUT / 2)
    started = time.monotonic()
    await room.execute(device_id, {"type": "power", "on": True})
    assert time.monotonic() - started >= TIMEOUT / 2
    assert room[device_id].state["power"] is Power.ON


@pytest.mark.parametrize("device_id", DEVICES)
async def test_a_confirmation_later_than_the_timeout_fails_the_command_but_the_late_report_counts(
        mqtt_room, device_id):
    room = mqtt_room
    _inject(room, device_id, "slow_reply", delay=2 * TIMEOUT)
    with pytest.raises(DeviceTimeout):
        await room.execute(device_id, {"type": "power", "on": True})
    await wait_until(lambda: room[device_id].state["power"] is Power.ON, within=3 * TIMEOUT, what="the late report")
    _clear(room, device_id)
    await room.status(device_id, Status.ONLINE, within=RECOVERY)


@pytest.mark.parametrize("device_id", DEVICES)
async def test_malformed_json_is_a_counted_protocol_error_logged_once_never_a_crash(mqtt_room, device_id, caplog):
    room = mqtt_room
    device = room[device_id]
    caplog.set_level(logging.WARNING, logger="drivers.mqtt_device")
    _inject(room, device_id, "garbled")
    with pytest.raises(DeviceTimeout):
        await room.execute(device_id, {"type": "power", "on": True})  # the answer is garbage: not a confirmation
    await wait_until(lambda: device.stats.malformed.get("not JSON", 0) >= 3, within=3, what="more garbage")
    assert device.state["power"] is Power.OFF  # nothing half-applied
    logged = [r for r in caplog.records if r.name == "drivers.mqtt_device" and device_id in r.getMessage()]
    assert len(logged) == 1 and "not JSON" in logged[0].getMessage()
    await room.status(device_id, Status.OFFLINE, within=2 * TIMEOUT + POLL + 0.5)  # unreadable: as good as silent
    _clear(room, device_id)
    await room.status(device_id, Status.ONLINE, within=RECOVERY)
    await room.execute(device_id, {"type": "power", "on": True})
    assert device.stats.malformed_total >= 3  # counted, kept


async def test_the_bridge_dying_takes_every_zigbee_device_offline_by_its_last_will(mqtt_room):
    room = mqtt_room
    room.z2m.inject("disconnect")  # the whole Zigbee2MQTT process: the broker publishes bridge/state offline
    await room.status("ceiling", Status.OFFLINE, within=ANNOUNCED + TIMEOUT)
    await room.status("thermostat", Status.OFFLINE, within=ANNOUNCED + TIMEOUT)
    assert "bridge" in room.supervisors["ceiling"].reason
    assert room.supervisors["spots"].status is Status.ONLINE  # Tasmota does not go through the bridge
    room.z2m.clear_faults()
    await room.status("ceiling", Status.ONLINE, within=RECOVERY)
    await room.status("thermostat", Status.ONLINE, within=RECOVERY)


async def test_a_rebooted_light_comes_back_in_its_power_on_state(mqtt_room):
    room = mqtt_room
    await room.execute("ceiling", {"type": "power", "on": True})
    room.z2m.inject("reboot", device="ceiling", reboot_time=0.5)
    await room.status("ceiling", Status.OFFLINE, within=ANNOUNCED)
    await room.status("ceiling", Status.ONLINE, within=RECOVERY)
    assert room["ceiling"].state["power"] is Power.OFF


# --- many devices, one connection -----------------------------------------------------------


async def test_forty_lights_share_one_broker_connection(broker):
    names = tuple(f"light-{i}" for i in range(40))
    room = await make_room(broker, lights=names, thermostats=(), relays=(), dimmers=())
    try:
        for name in names:
            await room.status(name, Status.ONLINE, within=RECOVERY)
        await asyncio.gather(*(room.execute(n, {"type": "brightness", "percent": 10 + i}) for i, n in enumerate(names)))
        assert [room[n].state["brightness"] for n in names] == [10 + i for i in range(40)]
        assert room.connection.stats.connects == 1  # one TCP connection to the broker for all forty
    finally:
        await room.stop()
