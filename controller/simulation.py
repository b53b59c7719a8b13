"""Start the simulators a site config asks for (``simulate: true``) in this process."""

from __future__ import annotations

from controller.clock import Clock
from controller.config import SiteConfig
from simulators.base import Simulator, simulators


async def start_simulators(config: SiteConfig, clock: Clock) -> tuple[SiteConfig, list[Simulator]]:
    """Start one simulator per simulated device; return the config pointed at them."""
    available = simulators()
    started: list[Simulator] = []
    rooms = []
    try:
        for room in config.rooms:
            devices = []
            for device in room.devices:
                if device.simulate:
                    try:
                        sim_class = available[device.driver]
                    except KeyError:
                        raise ValueError(f"{room.id}/{device.id}: no simulator speaks {device.driver}") from None
                    sim = sim_class.from_options({**device.options, **device.simulator}, clock=clock.monotonic)
                    await sim.start()
                    started.append(sim)
                    device = device.model_copy(update=sim.endpoint())
                devices.append(device)
            rooms.append(room.model_copy(update={"devices": devices}))
    except BaseException:
        for sim in started:
            await sim.stop()
        raise
    return config.model_copy(update={"rooms": rooms}), started
