"""Start the simulators a site config asks for (``simulate: true``) in this process."""

from __future__ import annotations

import asyncio

from typing import Any

from controller.clock import Clock
from controller.config import SiteConfig
from simulators.base import Simulator, simulator_for
from simulators.mqtt import MqttSimulator


async def start_simulators(
    config: SiteConfig, clock: Clock, *, broker: dict[str, Any] | None = None, every_device: bool = False,
    placed: dict[str, Simulator] | None = None,
) -> tuple[SiteConfig, list[Simulator]]:
    """Start one simulator per simulated device; return the config pointed at them.

    Devices on MQTT share simulators: one per protocol (and Zigbee2MQTT base topic) on
    ``broker`` ({host, port, ...}), serving every such device, as one Zigbee2MQTT bridge
    serves a building's lights. ``every_device`` simulates all devices, not only those
    marked ``simulate`` (``roomctl sim site``); ``placed`` is filled with
    ``room/device`` → the simulator that serves it.
    """
    placed = {} if placed is None else placed  # audio wiring below looks simulators up here
    started: list[Simulator] = []
    shared: dict[tuple, MqttSimulator] = {}
    rooms = []
    try:
        for room in config.rooms:
            devices = []
            for device in room.devices:
                if device.simulate or every_device:
                    sim_class = simulator_for(device.driver)
                    if sim_class is None:
                        raise ValueError(f"{room.id}/{device.id}: no simulator speaks {device.driver}")
                    options = {**device.options, **device.simulator}
                    if issubclass(sim_class, MqttSimulator):
                        if broker is None:
                            raise ValueError(f"{room.id}/{device.id}: an MQTT simulator needs the site's broker")
                        key = (sim_class, sim_class.group_key(options))
                        if key not in shared:
                            shared[key] = sim_class.from_options({**options, "broker": broker}, clock=clock.monotonic)
                        shared[key].add_device(device.id, device.driver, options)
                        if placed is not None:
                            placed[f"{room.id}/{device.id}"] = shared[key]
                        devices.append(device)
                        continue
                    sim = sim_class.from_options(options, clock=clock.monotonic)
                    await sim.start()
                    started.append(sim)
                    if placed is not None:
                        placed[f"{room.id}/{device.id}"] = sim
                    device = device.model_copy(update=sim.endpoint())
                devices.append(device)
            rooms.append(room.model_copy(update={"devices": devices}))
        for sim in shared.values():
            await sim.start()
            started.append(sim)
        wire_audio_inputs(config, placed)
    except BaseException:
        for sim in started:
            await sim.stop()
        raise
    return config.model_copy(update={"rooms": rooms}), started


def wire_audio_inputs(config: SiteConfig, placed: dict[str, Simulator]) -> None:
    """Plug simulated receivers' channels into simulated mixers' inputs, as cables in the room.

    A mixer's ``simulator: {inputs: {1: "mics/1"}}`` takes its input 1 from channel 1 of
    the device ``mics`` in the same room, so a talker at that mic moves the mixer's meter.
    """
    for room in config.rooms:
        for device in room.devices:
            wiring = device.simulator.get("inputs")
            if not wiring:
                continue
            place = f"{room.id}/{device.id}"
            mixer = placed.get(place)
            if mixer is None or not hasattr(mixer, "connect_input"):
                raise ValueError(f"{place}: simulator inputs need a simulated mixer")
            if not isinstance(wiring, dict):
                raise ValueError(f"{place}: simulator inputs map mixer channels to device/channel, e.g. {{1: mics/1}}")
            for channel, ref in wiring.items():
                source_id, _, source_channel = str(ref).partition("/")
                source = placed.get(f"{room.id}/{source_id}")
                try:
                    output = source.audio_output(int(source_channel))
                    mixer.connect_input(int(channel), output)
                except (AttributeError, KeyError, ValueError, TypeError):
                    raise ValueError(
                        f"{place}: input {channel} = {ref!r} is not a simulated receiver channel in room {room.id}"
                        " (write device/channel, e.g. mics/1)"
                    ) from None


def simulated_technician(placed: dict[str, Simulator]):
    """Answers self-test prompts as a technician would, on simulated devices only.

    Asked to speak into a mic, it makes that simulated receiver channel's talker talk
    for the time the test allows; asked to confirm, it confirms. A prompt about a real
    device is left unanswered (False): the demo never pretends real hardware passed.
    """

    async def answer(request) -> bool:
        sim = placed.get(f"{request.room}/{request.device}") if request.device else None
        if request.kind == "speak":
            if sim is None or not hasattr(sim, "talk") or request.channel is None:
                return False
            sim.talk(request.channel)
            try:
                await asyncio.sleep(request.within)  # talks until the test has heard enough and moves on
            finally:
                sim.silence(request.channel)
            return True
        return sim is not None

    return answer
