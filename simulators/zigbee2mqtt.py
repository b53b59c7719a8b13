"""A Zigbee2MQTT bridge with lights and thermostats behind it, on a real MQTT broker.

Written from the Zigbee2MQTT documentation ("MQTT Topics and Messages", "Device
availability", the light and climate "Exposes"), not from roomctl's driver:
- the bridge's connection has the last will ``<base>/bridge/state`` ``{"state":"offline"}``
  (retained); on every connect it publishes ``{"state":"online"}`` there, each device's
  retained ``<base>/<name>/availability`` and each device's state, as Zigbee2MQTT does
  after a broker restart;
- ``<base>/<name>/set`` changes a device and answers with its whole state on
  ``<base>/<name>``; ``<base>/<name>/get`` answers with the state without changing it;
- lights: ``state`` ON/OFF/TOGGLE, ``brightness`` 0–254 (0 is off), ``color_temp`` in
  mireds clamped to the lamp's range, ``transition`` accepted;
- thermostats: ``local_temperature``, ``occupied_heating_setpoint``,
  ``occupied_cooling_setpoint``, ``system_mode`` (off/heat/cool/auto/fan_only),
  ``running_state`` (idle/heat/cool/fan_only) — the room follows simulators.thermal on
  the injected clock, and a changed reading is reported as the real devices' attribute
  reporting does.

Faults, for one device (``device=NAME``) or the whole bridge:
``disconnect`` — the device drops off the Zigbee network (availability offline) or the
bridge process dies (its last will); ``no_reply`` — commands and reads are ignored;
``slow_reply`` — answers come ``delay`` seconds late; ``garbled`` — answers are
malformed JSON; ``reboot`` — offline for ``reboot_time`` seconds, then back in its
power-on state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import time
from typing import Any, ClassVar

from simulators.faults import Fault, Faults
from simulators.mqtt import Broker, DeviceClient, MqttSimulator
from simulators.thermal import Room

log = logging.getLogger(__name__)

# Real time between looks at the clock-driven rooms, to report a changed temperature:
# the clock may be a test's, so a change cannot be put on a timer.
WATCH_INTERVAL = 0.05
MALFORMED = b'{"state":"ON","brightness":'  # a report cut short, as a crashing converter sends
_ids = itertools.count(1)


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Light:
    def __init__(self, name: str, *, mired_range: tuple[int, int] = (153, 500)) -> None:
        self.name = name
        self.mired_range = (min(mired_range), max(mired_range))
        self.reset()

    def reset(self) -> None:
        self.on, self.brightness, self.color_temp = False, 254, 370

    def apply(self, values: dict[str, Any]) -> None:
        state = values.get("state")
        if isinstance(state, str) and state.upper() in ("ON", "OFF", "TOGGLE"):
            self.on = (not self.on) if state.upper() == "TOGGLE" else state.upper() == "ON"
        level = values.get("brightness")
        if isinstance(level, (int, float)) and not isinstance(level, bool) and 0 <= level <= 254:
            if level == 0:
                self.on = False  # moveToLevelWithOnOff to 0: off, the lamp keeps its last level
            else:
                self.on, self.brightness = True, int(round(level))
        mired = values.get("color_temp")
        if isinstance(mired, (int, float)) and not isinstance(mired, bool):
            self.color_temp = int(min(max(mired, self.mired_range[0]), self.mired_range[1]))

    def report(self) -> dict[str, Any]:
        return {"brightness": self.brightness, "color_mode": "color_temp", "color_temp": self.color_temp,
                "linkquality": 134, "state": "ON" if self.on else "OFF"}


class Thermostat:
    MODES = {"off": "off", "heat": "heat", "cool": "cool", "auto": "auto", "fan_only": "fan", "dry": "dry"}
    RUNNING = {"cooling": "cool", "heating": "heat", "fan": "fan_only"}

    def __init__(self, name: str, clock, *, temperature: float = 28.0, outside: float = 32.0, people: int = 0,
                 setpoint_range: tuple[float, float] = (5.0, 35.0)) -> None:
        self.name = name
        self.clock = clock
        self.setpoint_range = setpoint_range
        self.initial = dict(temperature=temperature, outside=outside, people=people)
        self.reset()

    def reset(self) -> None:
        self.room = Room(self.clock, **self.initial)
        self.system_mode, self.heating, self.cooling = "off", 21.0, 24.0
        self._sync()

    def _sync(self) -> None:
        mode = self.MODES[self.system_mode]
        self.room.change(mode=mode, setpoint=self.cooling if mode == "cool" else self.heating)

    def apply(self, values: dict[str, Any]) -> None:
        low, high = self.setpoint_range
        for key in ("occupied_heating_setpoint", "occupied_cooling_setpoint"):
            value = values.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high:
                setattr(self, "heating" if "heating" in key else "cooling", float(value))
        mode = values.get("system_mode")
        if mode in self.MODES:
            self.system_mode = mode
        self._sync()

    def report(self) -> dict[str, Any]:
        return {
            "local_temperature": round(self.room.temperature, 1),
            "occupied_cooling_setpoint": self.cooling,
            "occupied_heating_setpoint": self.heating,
            "running_state": self.RUNNING.get(self.room.action, "idle"),
            "system_mode": self.system_mode,
            "linkquality": 98,
        }


class Zigbee2MqttSimulator(MqttSimulator):
    protocol = "zigbee2mqtt"
    drivers: ClassVar[tuple[str, ...]] = ("z2m_light", "z2m_thermostat")
    description = "a Zigbee2MQTT bridge with lights and thermostats on an MQTT broker"

    def __init__(self, *, broker: Broker, base_topic: str = "zigbee2mqtt", clock=time.monotonic) -> None:
        super().__init__(broker=broker, clock=clock)
        self.base_topic = base_topic
        self.devices: dict[str, Light | Thermostat] = {}
        self.device_faults: dict[str, Faults] = {}
        self.commands_seen: list[tuple[str, dict]] = []
        self._client: DeviceClient | None = None
        self._watcher: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._last_reports: dict[str, dict] = {}
        self._reboots: dict[str | None, float] = {}

    # --- devices --------------------------------------------------------------------

    def add_light(self, name: str, *, mired_range: tuple[int, int] = (153, 500)) -> Light:
        light = self.devices[name] = Light(name, mired_range=mired_range)
        self.device_faults[name] = Faults()
        self._announce(name)
        return light

    def add_thermostat(self, name: str, **room) -> Thermostat:
        thermostat = self.devices[name] = Thermostat(name, self.clock, **room)
        self.device_faults[name] = Faults()
        self._announce(name)
        return thermostat

    @classmethod
    def group_key(cls, options: dict[str, Any]) -> str:
        return options.get("base_topic", "zigbee2mqtt")  # one bridge per base topic, as in a real install

    def add_device(self, name: str, driver: str, options: dict[str, Any]) -> None:
        friendly = options.get("friendly_name", name)
        if driver == "z2m_thermostat":
            room = {k: float(options[k]) for k in ("temperature", "outside") if k in options}
            if "people" in options:
                room["people"] = int(options["people"])
            self.add_thermostat(friendly, **room)
        else:
            mireds = options.get("color_temp_mired") or (153, 500)
            self.add_light(friendly, mired_range=tuple(mireds))

    @property
    def address(self) -> str:
        return f"mqtt://{self.broker.address} {self.base_topic}/#"

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._connect()
        self._watcher = asyncio.create_task(self._watch(), name="z2m-sim watch")
        await asyncio.wait_for(self._client.connected.wait(), 10.0)

    def _connect(self) -> None:
        self._client = DeviceClient(
            self.broker, client_id=f"z2m-sim-{next(_ids)}-{id(self):x}",
            will=(self._topic("bridge/state"), _json({"state": "offline"})),
            subscriptions=[f"{self.base_topic}/#"], on_message=self._on_message, on_connect=self._on_connect,
        )
        self._client.start()

    async def stop(self) -> None:
        for task in [self._watcher, *self._tasks]:
            if task is not None:
                task.cancel()
        for task in [self._watcher, *self._tasks]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._watcher = None
        if self._client is not None:
            # A clean exit clears what it retained, so the next run on a shared broker starts fresh.
            goodbye = [(self._topic("bridge/state"), b"")] + [(self._topic(f"{n}/availability"), b"") for n in self.devices]
            await self._client.stop(goodbye=goodbye)
            self._client = None

    # --- faults ---------------------------------------------------------------------

    def inject(self, fault: Fault | str, device: str | None = None, **params: float) -> None:
        fault = Fault(fault)
        if device is None:
            self.faults.inject(fault, **params)
        else:
            self.device_faults[device].inject(fault, **params)
            self.faults.params.update(params)
        if fault is Fault.DISCONNECT:
            self._go_offline(device)
        elif fault is Fault.REBOOT:
            self._reboot(device)

    def clear_faults(self, fault: Fault | str | None = None, device: str | None = None) -> None:
        targets = [self.device_faults[device]] if device else [self.faults, *self.device_faults.values()]
        was_offline = {name for name, f in self.device_faults.items() if Fault.DISCONNECT in f}
        bridge_was_down = Fault.DISCONNECT in self.faults
        for faults in targets:
            faults.clear(fault)
        if bridge_was_down and Fault.DISCONNECT not in self.faults:
            self._connect()
        for name in was_offline:
            if Fault.DISCONNECT not in self.device_faults[name]:
                self._announce(name)

    def _active(self, name: str, fault: Fault) -> bool:
        return fault in self.faults or fault in self.device_faults.get(name, ())

    def _offline(self, name: str) -> bool:
        now = time.monotonic()
        rebooting = self._reboots.get(name, 0.0) > now or self._reboots.get(None, 0.0) > now
        return rebooting or self._active(name, Fault.DISCONNECT)

    def _go_offline(self, device: str | None) -> None:
        if device is None:
            if self._client is not None:
                client, self._client = self._client, None
                self._spawn(client.drop())  # the bridge process dies: the broker sends its will
            return
        self._publish(self._topic(f"{device}/availability"), _json({"state": "offline"}), retain=True)

    def _reboot(self, device: str | None) -> None:
        self.faults.clear(Fault.REBOOT)
        for faults in self.device_faults.values():
            faults.clear(Fault.REBOOT)
        reboot_time = self.faults.params["reboot_time"]
        self._reboots[device] = time.monotonic() + reboot_time
        names = list(self.devices) if device is None else [device]
        for name in names:
            self.devices[name].reset()
            self._publish(self._topic(f"{name}/availability"), _json({"state": "offline"}), retain=True)

        async def back() -> None:
            await asyncio.sleep(reboot_time)
            for name in names:
                self._announce(name)

        self._spawn(back())

    # --- protocol -------------------------------------------------------------------

    def _topic(self, rest: str) -> str:
        return f"{self.base_topic}/{rest}"

    def _publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, retain=retain)

    def _on_connect(self) -> None:
        # As Zigbee2MQTT after a (re)connect: the bridge, then every device, retained where it retains.
        self._publish(self._topic("bridge/state"), _json({"state": "online"}), retain=True)
        for name in self.devices:
            self._announce(name)

    def _announce(self, name: str) -> None:
        if self._client is None or not self._client.connected.is_set() or self._offline(name):
            return
        self._publish(self._topic(f"{name}/availability"), _json({"state": "online"}), retain=True)
        self._report(name)

    def _report(self, name: str) -> None:
        report = self.devices[name].report()
        self._last_reports[name] = report
        self._publish(self._topic(name), _json(report))

    def _on_message(self, topic: str, payload: bytes) -> None:
        prefix = self.base_topic + "/"
        if not topic.startswith(prefix) or not topic.endswith(("/set", "/get")):
            return
        name, verb = topic[len(prefix):-4], topic[-3:]
        if name not in self.devices or self._offline(name) or self._active(name, Fault.NO_REPLY):
            return
        try:
            values = json.loads(payload)
        except ValueError:
            return  # Zigbee2MQTT logs "Invalid JSON" on bridge/logging and does nothing
        if not isinstance(values, dict):
            return
        if verb == "set":
            self.commands_seen.append((name, values))
            self.devices[name].apply(values)
        if self._active(name, Fault.SLOW_REPLY):
            self._spawn(self._late_answer(name))
        else:
            self._answer(name)

    def _answer(self, name: str) -> None:
        if self._active(name, Fault.GARBLED):
            self._publish(self._topic(name), MALFORMED)
        else:
            self._report(name)

    async def _late_answer(self, name: str) -> None:
        await asyncio.sleep(self.faults.params["delay"])
        if not self._offline(name):
            self._answer(name)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        """Report thermostats whose reading changed, as attribute reporting does."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            for name, device in self.devices.items():
                if not isinstance(device, Thermostat) or self._offline(name) or self._active(name, Fault.NO_REPLY):
                    continue
                report = device.report()
                last = self._last_reports.get(name)
                if last is None or any(report[k] != last.get(k) for k in ("local_temperature", "running_state")):
                    self._answer(name)

    # --- people and weather, for scenarios ------------------------------------------

    def set_people(self, name: str, people: int) -> None:
        self.devices[name].room.change(people=people)

    def set_outside(self, name: str, celsius: float) -> None:
        self.devices[name].room.change(outside=celsius)

    # --- command line ---------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--base-topic", default="zigbee2mqtt")
        parser.add_argument("--light", dest="light_names", action="append", default=[], help="a light's friendly name (repeat)")
        parser.add_argument("--lights", type=int, default=0, help="this many lights named light-1, light-2, …")
        parser.add_argument("--thermostat", dest="thermostat_names", action="append", default=[], help="a thermostat's friendly name")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock=time.monotonic) -> "Zigbee2MqttSimulator":
        sim = cls(broker=Broker.parse(options), base_topic=options.get("base_topic", "zigbee2mqtt"), clock=clock)
        for name in options.get("light_names") or []:
            sim.add_light(name)
        for i in range(int(options.get("lights") or 0)):
            sim.add_light(f"light-{i + 1}")
        for name in options.get("thermostat_names") or []:
            sim.add_thermostat(name)
        return sim
