"""The device side of MQTT: a client per simulated device or bridge, on a real broker.

Simulators import nothing from drivers/, so this is their own small bridge from
paho-mqtt 2.x (network loop in its thread) to asyncio: handlers run on the event loop,
handed over with ``call_soon_threadsafe``. Like real devices, a simulated client sets
its last will, reconnects by itself when the broker goes (paho's backoff), and on every
connect subscribes again and republishes its retained state — what Zigbee2MQTT and
Tasmota do, and what makes a broker restart survivable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import paho.mqtt.client as paho

from simulators.base import Simulator

RECONNECT_MIN_DELAY = 0.1
RECONNECT_MAX_DELAY = 2.0
KEEPALIVE = 15


@dataclass(frozen=True)
class Broker:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, options: dict[str, Any]) -> "Broker":
        """From simulator options: ``broker: {host, port, username, password}`` or ``"host:port"``."""
        value = options.get("broker") or {}
        if isinstance(value, str):
            host, _, port = value.rpartition(":")
            value = {"host": host or "127.0.0.1", "port": int(port)}
        return cls(**{k: v for k, v in value.items() if k in ("host", "port", "username", "password")})

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


OnMessage = Callable[[str, bytes], None]


class DeviceClient:
    """One simulated device's (or bridge's) connection to the broker."""

    def __init__(self, broker: Broker, *, client_id: str, will: tuple[str, bytes] | None,
                 subscriptions: list[str], on_message: OnMessage, on_connect: Callable[[], None]) -> None:
        self.broker = broker
        self.client_id = client_id
        self.will = will
        self.subscriptions = subscriptions
        self.on_message = on_message
        self.on_connect = on_connect
        self.connected = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True)
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.will is not None:
            client.will_set(self.will[0], self.will[1], qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
        client.suppress_exceptions = True
        client.on_connect = lambda c, u, f, rc, p: rc.is_failure or self._loop.call_soon_threadsafe(self._connected)
        client.on_disconnect = lambda c, u, f, rc, p: self._loop.call_soon_threadsafe(self.connected.clear)
        client.on_message = lambda c, u, m: self._loop.call_soon_threadsafe(self.on_message, m.topic, m.payload)
        client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE)
        client.loop_start()
        self._client = client

    def _connected(self) -> None:
        if self._client is None:
            return
        if self.subscriptions:
            self._client.subscribe([(topic, 1) for topic in self.subscriptions])
        self.connected.set()
        self.on_connect()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1) -> None:
        if self._client is not None and self.connected.is_set():
            self._client.publish(topic, payload, qos=qos, retain=retain)

    async def stop(self, *, goodbye: list[tuple[str, bytes]] = ()) -> None:
        """Leave cleanly: publish ``goodbye`` (retained) first, so no last will fires."""
        client, self._client = self._client, None
        if client is None:
            return
        if self.connected.is_set():
            infos = [client.publish(topic, payload, qos=1, retain=True) for topic, payload in goodbye]
            for info in infos:
                await asyncio.to_thread(info.wait_for_publish, 1.0)
            client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self.connected.clear()

    async def drop(self) -> None:
        """Vanish without a goodbye (power cut): the broker publishes the last will."""
        client, self._client = self._client, None
        if client is None:
            return
        await asyncio.to_thread(client.loop_stop)
        sock = client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self.connected.clear()


class MqttSimulator(Simulator):
    """A simulator whose devices live on a broker; one instance serves many devices."""

    transport: ClassVar[str] = "mqtt"

    def __init__(self, *, broker: Broker, clock=None, **kwargs) -> None:
        super().__init__(**({"clock": clock} if clock is not None else {}))
        self.broker = broker

    def endpoint(self) -> dict[str, Any]:
        return {}  # a device finds its simulator by topic, on the site's broker

    @classmethod
    def group_key(cls, options: dict[str, Any]) -> str:
        """Devices whose options give the same key share one simulator instance."""
        return ""

    @abstractmethod
    def add_device(self, name: str, driver: str, options: dict[str, Any]) -> None:
        """Serve one more device of ``driver`` with the device config's ``options``."""

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--broker", default="127.0.0.1:1883", help="the MQTT broker, host:port")
