"""The controller process: clock, bus, store, site, API server — and, for a demo, the
simulators — started and stopped in the right order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import uvicorn

from controller.api import create_app
from controller.clock import Clock
from controller.config import SiteConfig
from controller.events import EventBus
from controller.simulation import start_simulators
from controller.site import Site
from controller.store import EventRecorder, Store
from drivers.status import Status

log = logging.getLogger(__name__)

# uvicorn binds in well under a second; longer means the port is taken or the host wrong.
API_START_TIMEOUT = 10.0


class Controller:
    def __init__(self, config: SiteConfig, *, with_simulators: bool = True, serve_api: bool = True) -> None:
        self.config = config
        self.clock = Clock(config.clock.speed)
        self.bus = EventBus(self.clock)
        self.store = Store(config.store)
        self.with_simulators = with_simulators
        self.serve_api = serve_api
        self.simulators = []
        self.site: Site | None = None
        self._recorder: EventRecorder | None = None
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task | None = None
        self.url: str | None = None

    async def start(self) -> None:
        await self.store.open()
        self._recorder = EventRecorder(self.bus, self.store)
        self._recorder.start()
        config = self.config
        if self.with_simulators and any(d.simulate for r in config.rooms for d in r.devices):
            config, self.simulators = await start_simulators(config, self.clock)
        self.site = Site(config, clock=self.clock, bus=self.bus)
        if self.serve_api:
            await self._start_api()
        await self.site.start()

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
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._server_task, 5.0)
        if self.site is not None:
            await self.site.stop()
        for sim in self.simulators:
            with contextlib.suppress(Exception):
                await sim.stop()
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
