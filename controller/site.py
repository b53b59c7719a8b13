"""The running site: every room's devices, each under its supervisor, feeding the bus."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python

from controller.clock import Clock
from controller.config import DeviceConfig, SiteConfig
from controller.events import EventBus
from drivers import registry
from drivers.capabilities import Command
from drivers.device import Device
from drivers.status import Status
from drivers.supervisor import Supervisor
from drivers.transports.mqtt import MqttConnection, MqttTransport
from drivers.transports.serial import SerialTransport
from drivers.transports.tcp import TcpTransport
from drivers.transports.udp import UdpTransport

log = logging.getLogger(__name__)


def build_transport(config: DeviceConfig, device_class: type[Device], *, mqtt: MqttConnection | None = None):
    spec = device_class.transport_spec
    if spec.kind == "mqtt":
        if mqtt is None:
            raise ValueError(f"{config.driver}: an MQTT device needs the site's broker connection")
        # Every MQTT device shares the site's one connection; a broker that is away makes the
        # device offline within its own timeout, like any device that does not answer.
        return MqttTransport(mqtt, connect_timeout=config.timeout)
    if spec.kind == "tcp":
        return TcpTransport(config.host, config.port or spec.default_port)
    if spec.kind == "serial":
        return SerialTransport(config.serial_port, baudrate=config.baudrate or spec.baudrate)
    if spec.kind == "udp":
        return UdpTransport(config.host, config.port or spec.default_port)
    raise ValueError(f"{config.driver}: no transport for kind {spec.kind!r} yet")


@dataclass
class DeviceRuntime:
    room: str
    config: DeviceConfig
    device: Device
    supervisor: Supervisor

    @property
    def id(self) -> str:
        return self.config.id

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "name": self.config.name or self.id,
            "driver": self.config.driver,
            "address": self.device.transport.address,
            "status": self.supervisor.status.value,
            "reason": self.supervisor.reason,
            "capabilities": self.device.capabilities,
            "state": self.device.snapshot(),
        }


@dataclass
class RoomRuntime:
    id: str
    name: str
    devices: dict[str, DeviceRuntime] = field(default_factory=dict)
    attended: bool = False  # a staff member stays in the room (from the T-20 reminder on)

    def status(self) -> str:
        statuses = {d.supervisor.status for d in self.devices.values()}
        if not statuses or statuses == {Status.ONLINE}:
            return "ok"
        if Status.OFFLINE in statuses or Status.FAULT in statuses or Status.BAD_CONFIG in statuses:
            return "attention"
        return "starting"

    def view(self, *, with_devices: bool = True) -> dict[str, Any]:
        view = {"id": self.id, "name": self.name, "status": self.status(), "attended": self.attended}
        if with_devices:
            view["devices"] = [d.view() for d in self.devices.values()]
        else:
            view["device_status"] = {d.id: d.supervisor.status.value for d in self.devices.values()}
        return view


class Site:
    def __init__(self, config: SiteConfig, *, clock: Clock, bus: EventBus, mqtt: MqttConnection | None = None) -> None:
        self.mqtt = mqtt
        self.config = config
        self.clock = clock
        self.bus = bus
        self.rooms: dict[str, RoomRuntime] = {}
        for room in config.rooms:
            runtime = RoomRuntime(room.id, room.name or room.id)
            for device_config in room.devices:
                runtime.devices[device_config.id] = self._build_device(room.id, device_config)
            self.rooms[room.id] = runtime

    def _build_device(self, room: str, config: DeviceConfig) -> DeviceRuntime:
        device_class = registry.get(config.driver)
        device = device_class(
            config.id, build_transport(config, device_class, mqtt=self.mqtt), options=config.driver_options(), timeout=config.timeout
        )
        supervisor = Supervisor(
            device,
            poll_interval=config.poll_interval,
            on_status=lambda status, reason: self.bus.publish(
                "status", room=room, device=config.id, data={"status": status.value, "reason": reason}, actor="supervisor"
            ),
        )
        # Only the changed key is made JSON-ready: a whole snapshot per change costs a mixer's
        # every channel on each meter reading.
        device.add_listener(
            lambda key, value: self.bus.publish(
                "state", room=room, device=config.id, data={key: to_jsonable_python(value)}
            )
        )
        return DeviceRuntime(room, config, device, supervisor)

    def devices(self):
        for room in self.rooms.values():
            yield from room.devices.values()

    def scene_configs(self, room_id: str):
        return self.config.room(room_id).scenes

    def device(self, room_id: str, device_id: str) -> DeviceRuntime:
        return self.rooms[room_id].devices[device_id]

    async def start(self) -> None:
        for runtime in self.devices():
            runtime.supervisor.start()
        self.bus.publish("system", data={"event": "started", "site": self.config.site})

    async def stop(self) -> None:
        await asyncio.gather(*(runtime.supervisor.stop() for runtime in self.devices()))

    async def execute(self, room_id: str, device_id: str, command: Command, *, actor: str) -> None:
        runtime = self.device(room_id, device_id)
        self.bus.publish("command", room=room_id, device=device_id, data=command.model_dump(), actor=actor)
        try:
            await runtime.supervisor.execute(command)
        except Exception as exc:
            self.bus.publish("error", room=room_id, device=device_id,
                             data={"command": command.model_dump(), "error": type(exc).__name__, "detail": str(exc)},
                             actor=actor)
            raise

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for runtime in self.devices():
            counts[runtime.supervisor.status.value] = counts.get(runtime.supervisor.status.value, 0) + 1
        return counts
