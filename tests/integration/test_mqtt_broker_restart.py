"""A broker restart mid-run: devices go offline, the connection comes back by itself,
subscriptions are restored, and state is right — including a change made while the
broker was down. Both legs: the embedded broker restarted in place, and a Mosquitto
process of the test's own (the machine's shared one is never touched)."""

from __future__ import annotations

import asyncio

import pytest

from drivers.capabilities import Power, SetPower
from drivers.lights.tasmota import TasmotaOptions, TasmotaRelay
from drivers.lights.zigbee2mqtt import Zigbee2MqttLight, Zigbee2MqttLightOptions
from drivers.status import Status
from drivers.supervisor import Supervisor
from drivers.transports.mqtt import BrokerSettings, MqttConnection, MqttTransport
from helpers import wait_for_status, wait_until
from controller.mqtt_broker import EmbeddedBroker
from mqtt_legs import PrivateMosquitto, unique
from simulators.mqtt import Broker
from simulators.tasmota import TasmotaSimulator
from simulators.zigbee2mqtt import Zigbee2MqttSimulator

TIMEOUT = 0.5
# Broker back, then: paho's reconnect (≤ 3 s backoff), resubscribe, retained state, the supervisor's retry.
RECOVERY = 8.0


class EmbeddedLeg:
    def __init__(self) -> None:
        self.broker = EmbeddedBroker()

    async def start(self) -> None:
        await self.broker.start()

    @property
    def port(self) -> int:
        return self.broker.port

    async def down(self) -> None:
        await self.broker.stop()

    async def up(self) -> None:
        await self.broker.start()  # the same port

    async def cleanup(self) -> None:
        await self.broker.stop()


class MosquittoLeg:
    def __init__(self) -> None:
        self.mosquitto = PrivateMosquitto()

    async def start(self) -> None:
        await asyncio.to_thread(self.mosquitto.start)

    @property
    def port(self) -> int:
        return self.mosquitto.port

    async def down(self) -> None:
        await asyncio.to_thread(self.mosquitto.stop)

    async def up(self) -> None:
        await asyncio.to_thread(self.mosquitto.start)

    async def cleanup(self) -> None:
        await asyncio.to_thread(self.mosquitto.cleanup)


@pytest.fixture(params=["embedded", "mosquitto"])
async def restartable(request):
    if request.param == "mosquitto":
        leg = MosquittoLeg()
        if not leg.mosquitto.available:
            pytest.skip(f"Mosquitto is not installed ({leg.mosquitto.binary}): no broker of the test's own to restart")
    else:
        leg = EmbeddedLeg()
    await leg.start()
    yield leg
    await leg.cleanup()


async def test_broker_restart_reconnects_resubscribes_and_state_is_right(restartable):
    leg = restartable
    sim_broker = Broker("127.0.0.1", leg.port)
    base, topic = unique("z2m"), unique("relay")
    z2m = Zigbee2MqttSimulator(broker=sim_broker, base_topic=base)
    z2m.add_light("desk")
    tasmota = TasmotaSimulator(broker=sim_broker)
    tasmota.add_relay(topic)
    await z2m.start()
    await tasmota.start()
    connection = MqttConnection(BrokerSettings("127.0.0.1", leg.port, availability_topic=f"roomctl/test/{base}/availability"))
    light = Zigbee2MqttLight("desk", MqttTransport(connection, connect_timeout=TIMEOUT), timeout=TIMEOUT,
                             options=Zigbee2MqttLightOptions(friendly_name="desk", base_topic=base))
    relay = TasmotaRelay("relay", MqttTransport(connection, connect_timeout=TIMEOUT), options=TasmotaOptions(topic=topic), timeout=TIMEOUT)
    supervisors = [Supervisor(light, poll_interval=0.3), Supervisor(relay, poll_interval=0.3)]
    for s in supervisors:
        s.start()
    try:
        for s in supervisors:
            await wait_for_status(s, Status.ONLINE, within=RECOVERY)
        await supervisors[0].execute(SetPower(on=True))
        connects = connection.stats.connects

        await leg.down()
        for s in supervisors:
            await wait_for_status(s, Status.OFFLINE, within=3.0)
        assert not connection.connected
        # While the broker is away, someone switches the light off at the wall.
        z2m.devices["desk"].apply({"state": "OFF"})

        await leg.up()
        for s in supervisors:
            await wait_for_status(s, Status.ONLINE, within=RECOVERY)
        assert connection.stats.connects == connects + 1  # the same connection object came back
        # The bridge republished on reconnect; our subscriptions were restored to hear it.
        await wait_until(lambda: light.state["power"] is Power.OFF, within=2.0, what="the wall switch seen")
        await supervisors[1].execute(SetPower(on=True))
        assert relay.state["power"] is Power.ON and tasmota.devices[topic].on
    finally:
        for s in supervisors:
            await s.stop()
        await z2m.stop()
        await tasmota.stop()
        await connection.stop()

