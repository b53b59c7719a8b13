"""Tasmota relays and dimmers, each its own MQTT client on a real broker.

Written from the Tasmota documentation ("MQTT", "Commands"), default FullTopic
``%prefix%/%topic%/``:
- each device connects with the last will ``tele/<topic>/LWT`` ``Offline`` (retained)
  and publishes ``Online`` there on connect, then its power state;
- ``cmnd/<topic>/POWER`` ``ON``/``OFF``/``TOGGLE`` (also ``1``/``0``/``2``), empty to ask;
  answered on ``stat/<topic>/RESULT`` ``{"POWER":"ON"}`` and ``stat/<topic>/POWER`` ``ON``;
- ``cmnd/<topic>/Dimmer`` ``0..100`` (dimmers), empty to ask; answered
  ``{"POWER":"ON","Dimmer":40}``; Dimmer 0 switches off, any other level on;
- ``cmnd/<topic>/STATE`` answers the whole state on ``stat/<topic>/RESULT`` (and
  ``tele/<topic>/STATE``), as does the periodic telemetry every TelePeriod.
Command names are case-insensitive.

Faults (``device=TOPIC`` for one device, or all): ``disconnect`` — power cut: the device's
connection drops without a goodbye and the broker publishes its last will; ``no_reply``,
``slow_reply`` (``delay``), ``garbled`` (malformed JSON in RESULT) and ``reboot``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import time
from typing import Any, ClassVar

from simulators.faults import Fault, Faults
from simulators.mqtt import Broker, DeviceClient, MqttSimulator

TELE_PERIOD = 300.0  # Tasmota's default TelePeriod, real seconds
MALFORMED = b'{"POWER":"ON","Dimmer":'
_ids = itertools.count(1)


class TasmotaDevice:
    def __init__(self, topic: str, *, dimmer: bool, relay: int | None = None) -> None:
        self.topic = topic
        self.dimmer = dimmer
        self.power_key = "POWER" if relay is None else f"POWER{relay}"
        self.faults = Faults()
        self.client: DeviceClient | None = None
        self.started = time.monotonic()
        self.reset()

    def reset(self) -> None:
        self.on, self.level = False, 100

    def result(self) -> dict[str, Any]:
        answer: dict[str, Any] = {self.power_key: "ON" if self.on else "OFF"}
        if self.dimmer:
            answer["Dimmer"] = self.level
        return answer

    def state(self) -> dict[str, Any]:
        uptime = int(time.monotonic() - self.started)
        return {"Time": time.strftime("%Y-%m-%dT%H:%M:%S"), "Uptime": f"0T{uptime // 3600:02d}:{uptime // 60 % 60:02d}:"
                f"{uptime % 60:02d}", "UptimeSec": uptime, "MqttCount": 1, **self.result(),
                "Wifi": {"AP": 1, "SSId": "venue-iot", "RSSI": 78, "Signal": -61}}


class TasmotaSimulator(MqttSimulator):
    protocol = "tasmota"
    drivers: ClassVar[tuple[str, ...]] = ("tasmota_relay", "tasmota_dimmer")
    description = "Tasmota relays and dimmers, one MQTT client each"

    def __init__(self, *, broker: Broker, tele_period: float = TELE_PERIOD, clock=time.monotonic) -> None:
        super().__init__(broker=broker, clock=clock)
        self.tele_period = tele_period
        self.devices: dict[str, TasmotaDevice] = {}
        self._tasks: set[asyncio.Task] = set()
        self._tele: asyncio.Task | None = None
        self._running = False

    # --- devices --------------------------------------------------------------------

    def add_relay(self, topic: str, *, relay: int | None = None) -> TasmotaDevice:
        return self._add(TasmotaDevice(topic, dimmer=False, relay=relay))

    def add_dimmer(self, topic: str) -> TasmotaDevice:
        return self._add(TasmotaDevice(topic, dimmer=True))

    def _add(self, device: TasmotaDevice) -> TasmotaDevice:
        self.devices[device.topic] = device
        if self._running:
            self._connect(device)
        return device

    def add_device(self, name: str, driver: str, options: dict[str, Any]) -> None:
        topic = options.get("topic", name)
        if driver == "tasmota_dimmer":
            self.add_dimmer(topic)
        else:
            self.add_relay(topic, relay=options.get("relay"))

    @property
    def address(self) -> str:
        return f"mqtt://{self.broker.address} cmnd/+/#"

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        for device in self.devices.values():
            self._connect(device)
        self._tele = asyncio.create_task(self._telemetry(), name="tasmota-sim tele")
        for device in self.devices.values():
            await asyncio.wait_for(device.client.connected.wait(), 10.0)

    def _connect(self, device: TasmotaDevice) -> None:
        t = device.topic
        device.client = DeviceClient(
            self.broker, client_id=f"DVES_{next(_ids):06X}-{id(self) & 0xFFFF:04x}", will=(f"tele/{t}/LWT", b"Offline"),
            subscriptions=[f"cmnd/{t}/#"], on_message=lambda topic, payload: self._on_message(device, topic, payload),
            on_connect=lambda: self._on_connect(device),
        )
        device.client.start()

    async def stop(self) -> None:
        self._running = False
        for task in [self._tele, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for device in self.devices.values():
            if device.client is not None:
                # A clean exit clears the retained LWT, so a shared broker keeps no ghosts.
                await device.client.stop(goodbye=[(f"tele/{device.topic}/LWT", b"")])
                device.client = None

    # --- faults ---------------------------------------------------------------------

    def _targets(self, device: str | None) -> list[TasmotaDevice]:
        return list(self.devices.values()) if device is None else [self.devices[device]]

    def inject(self, fault: Fault | str, device: str | None = None, **params: float) -> None:
        fault = Fault(fault)
        self.faults.params.update(params)
        for target in self._targets(device):
            target.faults.inject(fault, **params)
            if fault is Fault.DISCONNECT:
                self._power_cut(target)
            elif fault is Fault.REBOOT:
                target.faults.clear(Fault.REBOOT)
                self._power_cut(target)
                target.reset()
                self._spawn(self._power_back(target, self.faults.params["reboot_time"]))

    def clear_faults(self, fault: Fault | str | None = None, device: str | None = None) -> None:
        self.faults.clear(fault)
        for target in self._targets(device):
            was_cut = Fault.DISCONNECT in target.faults
            target.faults.clear(fault)
            if was_cut and Fault.DISCONNECT not in target.faults and self._running:
                self._connect(target)

    def _power_cut(self, device: TasmotaDevice) -> None:
        client, device.client = device.client, None
        if client is not None:
            self._spawn(client.drop())

    async def _power_back(self, device: TasmotaDevice, after: float) -> None:
        await asyncio.sleep(after)
        if self._running and device.client is None and Fault.DISCONNECT not in device.faults:
            self._connect(device)

    # --- protocol -------------------------------------------------------------------

    def _publish(self, device: TasmotaDevice, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if device.client is not None:
            device.client.publish(topic, payload, retain=retain)

    def _on_connect(self, device: TasmotaDevice) -> None:
        t = device.topic
        self._publish(device, f"tele/{t}/LWT", b"Online", retain=True)
        self._publish(device, f"stat/{t}/RESULT", json.dumps(device.result()).encode())
        self._publish(device, f"stat/{t}/{device.power_key}", b"ON" if device.on else b"OFF")

    def _on_message(self, device: TasmotaDevice, topic: str, payload: bytes) -> None:
        if not topic.startswith(f"cmnd/{device.topic}/") or Fault.NO_REPLY in device.faults or device.client is None:
            return
        command = topic.rsplit("/", 1)[-1].upper()
        argument = payload.decode("utf-8", "replace").strip().upper()
        answer = self._execute(device, command, argument)
        if answer is None:
            return
        if Fault.SLOW_REPLY in device.faults:
            self._spawn(self._late(device, command, answer))
        else:
            self._answer(device, command, answer)

    def _execute(self, device: TasmotaDevice, command: str, argument: str) -> dict[str, Any] | None:
        if command == device.power_key or (command == "POWER1" and device.power_key == "POWER"):
            if argument in ("ON", "1", "TRUE"):
                device.on = True
            elif argument in ("OFF", "0", "FALSE"):
                device.on = False
            elif argument in ("TOGGLE", "2"):
                device.on = not device.on
            elif argument not in ("", "?"):
                return {"Command": "Error"}
            return {device.power_key: "ON" if device.on else "OFF"}
        if command == "DIMMER" and device.dimmer:
            if argument not in ("", "?"):
                if not argument.isdigit() or not 0 <= int(argument) <= 100:
                    return {"Command": "Error"}
                level = int(argument)
                device.on = level > 0
                if level:
                    device.level = level
            return device.result()
        if command == "STATE":
            return device.state()
        return {"Command": "Unknown"}

    def _answer(self, device: TasmotaDevice, command: str, answer: dict[str, Any]) -> None:
        t = device.topic
        if Fault.GARBLED in device.faults:
            self._publish(device, f"stat/{t}/RESULT", MALFORMED)
            return
        self._publish(device, f"stat/{t}/RESULT", json.dumps(answer).encode())
        if device.power_key in answer and command != "STATE":
            self._publish(device, f"stat/{t}/{device.power_key}", answer[device.power_key].encode())
        if command == "STATE":
            self._publish(device, f"tele/{t}/STATE", json.dumps(answer).encode())

    async def _late(self, device: TasmotaDevice, command: str, answer: dict[str, Any]) -> None:
        await asyncio.sleep(self.faults.params["delay"])
        self._answer(device, command, answer)

    async def _telemetry(self) -> None:
        while True:
            await asyncio.sleep(self.tele_period)
            for device in self.devices.values():
                if Fault.NO_REPLY not in device.faults:
                    self._publish(device, f"tele/{device.topic}/STATE", json.dumps(device.state()).encode())

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- command line ---------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--relay", dest="relay_topics", action="append", default=[], help="a relay's %%topic%% (repeat)")
        parser.add_argument("--dimmer", dest="dimmer_topics", action="append", default=[], help="a dimmer's %%topic%% (repeat)")
        parser.add_argument("--tele-period", type=float, default=TELE_PERIOD)

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock=time.monotonic) -> "TasmotaSimulator":
        sim = cls(broker=Broker.parse(options), tele_period=float(options.get("tele_period") or TELE_PERIOD),
                  clock=clock)
        for topic in options.get("relay_topics") or []:
            sim.add_relay(topic)
        for topic in options.get("dimmer_topics") or []:
            sim.add_dimmer(topic)
        return sim
