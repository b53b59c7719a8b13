"""The controller process: clock, bus, store, site, API server — and, for a demo, the
simulators — started and stopped in the right order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import uvicorn

from controller.api import create_app
from controller import routines
from controller.archive import Archive
from controller.bookings import Schedule
from controller.clock import Clock
from controller.config import SiteConfig
from controller.events import EventBus
from controller.mqtt_broker import EmbeddedBroker
from controller.scenes import SceneEngine
from controller.schedule import Scheduler, scene_handler
from controller.selftest import SelfTest
from controller.simulation import start_simulators
from controller.site import Site
from controller.store import EventRecorder, Store
from drivers.errors import DeviceError
from drivers.status import Status
from drivers.transports.mqtt import BrokerSettings, MqttConnection

log = logging.getLogger(__name__)

# uvicorn binds in well under a second; longer means the port is taken or the host wrong.
API_START_TIMEOUT = 10.0
# Long enough for a broker on the LAN; a broker that needs longer is reported and retried.
MQTT_CONNECT_TIMEOUT = 5.0


def broker_settings(config: SiteConfig, embedded: EmbeddedBroker | None) -> BrokerSettings:
    """The connection settings for the site's broker, with the controller's last will."""
    mqtt = config.mqtt
    availability = f"roomctl/{config.site}/controllers/{mqtt.client_id or 'roomctl-' + config.site}/availability"
    if embedded is not None:
        return BrokerSettings(host=embedded.host, port=embedded.port, client_id=mqtt.client_id or f"roomctl-{config.site}",
                              availability_topic=availability)
    return BrokerSettings(
        host=mqtt.host, port=mqtt.port or (8883 if mqtt.tls else 1883), username=mqtt.username,
        password=mqtt.password.get_secret_value() if mqtt.password else None, tls=mqtt.tls, ca_file=mqtt.ca_file,
        client_id=mqtt.client_id or f"roomctl-{config.site}", availability_topic=availability,
    )


class Controller:
    def __init__(self, config: SiteConfig, *, with_simulators: bool = True, serve_api: bool = True,
                 run_schedule: bool | None = None) -> None:
        self.config = config
        self.clock = Clock(config.clock.speed)
        self.bus = EventBus(self.clock)
        self.store = Store(config.store)
        self.with_simulators = with_simulators
        self.serve_api = serve_api
        self.simulators = []
        self.placed_simulators: dict = {}  # "room/device" -> its in-process simulator
        self.broker: EmbeddedBroker | None = None  # when the config names no broker of its own
        self.mqtt: MqttConnection | None = None  # the one connection every MQTT device shares
        self.site: Site | None = None
        self.scenes: SceneEngine | None = None
        self._recorder: EventRecorder | None = None
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task | None = None
        self.url: str | None = None
        self.kiosk = None  # a KioskService when this machine is a check-in desk (config kiosk:)
        # The day's timeline; routines register their actions on it (controller/schedule.py). It runs
        # with the API by default: a one-shot command (`roomctl selftest --config`) runs no timeline.
        self.schedule = Schedule.from_config(config)
        self.scheduler = Scheduler(self.schedule, config.schedule, clock=self.clock, bus=self.bus)
        self.run_schedule = serve_api if run_schedule is None else run_schedule
        self.archive: Archive | None = None  # the equipment archive (设备档案)

    async def start(self) -> None:
        await self.store.open()
        self._recorder = EventRecorder(self.bus, self.store)
        self._recorder.start()
        config = self.config
        if config.uses_mqtt():
            await self._start_mqtt()
        if self.with_simulators and any(d.simulate for r in config.rooms for d in r.devices):
            config, self.simulators = await start_simulators(config, self.clock, broker=self.broker_endpoint(),
                                                             placed=self.placed_simulators)
        self.site = Site(config, clock=self.clock, bus=self.bus, mqtt=self.mqtt)
        self.scenes = SceneEngine(self.site, self.bus)
        self.selftest = SelfTest(self)
        self.scheduler.register(f"scene:{config.schedule.ready_scene}", scene_handler(self.scenes))
        await routines.attach(self)  # playbooks, monitoring, post-meeting; registers their schedule actions
        self.archive = Archive(config, self.store, site=self.site, bus=self.bus, clock=self.clock,
                               zone=self.schedule.zone)
        await self.archive.open()
        self.archive.start()  # before the devices start: their identity is read as they connect
        if config.kiosk is not None:
            await self._start_kiosk()
        if self.serve_api:
            await self._start_api()
        await self.site.start()
        if self.run_schedule:
            self.scheduler.start()

    async def _start_kiosk(self) -> None:
        from pathlib import Path

        from kiosk.service import KioskService

        kiosk = self.config.kiosk
        store = Path(kiosk.store) if Path(kiosk.store).is_absolute() else Path(self.config.store).parent / kiosk.store
        self.kiosk = KioskService(kiosk, site=self.config.site, store_path=store, now=self.clock.now,
                                  broker=self.mqtt.settings if self.mqtt is not None else None)
        await self.kiosk.start()

    async def _start_mqtt(self) -> None:
        """The broker first (embedded unless the config names one), then our one connection to it."""
        mqtt = self.config.mqtt
        if not mqtt.external:
            self.broker = EmbeddedBroker(mqtt.embedded_port)
            await self.broker.start()
        self.mqtt = MqttConnection(broker_settings(self.config, self.broker))
        await self.mqtt.start()
        try:
            await self.mqtt.wait_connected(MQTT_CONNECT_TIMEOUT)
        except DeviceError as exc:
            # A broker that is down now may be up in a minute: devices show offline meanwhile.
            log.warning("MQTT: %s; devices on it stay offline until it answers", exc)

    def broker_endpoint(self) -> dict | None:
        """Where simulated MQTT devices connect: the broker this controller uses."""
        if self.mqtt is None:
            return None
        s = self.mqtt.settings
        return {"host": s.host, "port": s.port, "username": s.username, "password": s.password}

    async def _start_api(self) -> None:
        api = self.config.api
        server_config = uvicorn.Config(
            create_app(self), host=api.host, port=api.port, log_level="warning", lifespan="off",
            ws="websockets-sansio", access_log=False,
        )
        self._server = uvicorn.Server(server_config)
        self._server.install_signal_handlers = lambda: None  # the CLI owns signals
        self._server_task = asyncio.create_task(self._server.serve(), name="api")
        deadline = time.monotonic() + API_START_TIMEOUT
        while not self._server.started:
            if self._server_task.done():
                raise OSError(f"the API could not listen on {api.host}:{api.port}")
            if time.monotonic() > deadline:
                raise OSError(f"the API did not start within {API_START_TIMEOUT:g} s")
            await asyncio.sleep(0.02)
        sock = self._server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        await self.scheduler.stop()
        await routines.detach(self)
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._server_task, 5.0)
        if self.kiosk is not None:
            await self.kiosk.stop()
        if self.site is not None:
            await self.site.stop()
        for sim in self.simulators:
            with contextlib.suppress(Exception):
                await sim.stop()
        if self.mqtt is not None:
            with contextlib.suppress(Exception):
                await self.mqtt.stop()
        if self.broker is not None:
            await self.broker.stop()
        if self.archive is not None:
            await self.archive.stop()
        if self._recorder is not None:
            await self._recorder.stop()
        await self.store.close()

    async def wait_until_online(self, timeout: float) -> list[str]:
        """Wait until every device is online; return the ones that are not (room/device: status)."""
        deadline = time.monotonic() + timeout
        with self.bus.subscribe() as changes:
            while True:
                missing = [
                    f"{d.room}/{d.id}: {d.supervisor.status.value}" + (f" ({d.supervisor.reason})" if d.supervisor.reason else "")
                    for d in self.site.devices()
                    if d.supervisor.status is not Status.ONLINE
                ]
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return missing
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changes.get(), left)
