"""50 MQTT lights set and confirmed: roomctl's Zigbee2MQTT driver vs a bare paho echo.

Each round sets 50 Zigbee2MQTT lights to a new brightness and waits until every light
has reported it back — the same work two ways, on the same broker, against the same
Zigbee2MQTT simulator (its own process):
- bare paho: one paho client publishes 50 ``/set`` messages and counts the 50 state
  reports with the new value (no validation, no typed state: the floor);
- roomctl: 50 ``z2m_light`` devices on one shared ``MqttConnection``, each a validated
  ``SetBrightness`` command confirmed from the light's own report.
Both brokers: the embedded amqtt broker (its own process) and Mosquitto at
127.0.0.1:1883 (left out, saying so, when unreachable). Reported: median round time and
roomctl / bare. Goal: ≤ 1.2×.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._sim import simulator_process  # noqa: E402

LIGHTS = 50
ROUNDS = 40  # alternating brightness, the two clients interleaved round by round
ROUND_TIMEOUT = 10.0


@contextlib.contextmanager
def embedded_broker_process():
    process = subprocess.Popen([sys.executable, "-m", "controller.mqtt_broker", "--port", "0"],
                               stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"broker did not start: {line!r}")
        host, port = line.split()[1].rsplit(":", 1)
        yield host, int(port)
    finally:
        process.terminate()
        process.wait(10)


def mosquitto_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=0.5):
            return True
    except OSError:
        return False


class BareEcho:
    """The least a client can do: publish the sets, count the matching reports."""

    def __init__(self, host: str, port: int, base: str) -> None:
        import paho.mqtt.client as paho

        self.base = base
        self.expected = -1
        self.seen: set[str] = set()
        self.done = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        self.client.subscribe(f"{base}/+", qos=1)
        subscribed.wait(5)

    def _on_message(self, client, userdata, message) -> None:
        report = json.loads(message.payload)
        if report.get("brightness") == self.expected:
            self.seen.add(message.topic)
            if len(self.seen) == LIGHTS:
                self.done.set()

    def round(self, raw: int) -> float:
        self.seen, self.expected = set(), raw
        self.done.clear()
        payload = json.dumps({"brightness": raw}).encode()
        start = time.perf_counter()
        for i in range(LIGHTS):
            self.client.publish(f"{self.base}/light-{i + 1}/set", payload, qos=1)
        if not self.done.wait(ROUND_TIMEOUT):
            raise RuntimeError(f"bare echo: {len(self.seen)} of {LIGHTS} confirmed")
        return time.perf_counter() - start

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Roomctl:
    def __init__(self, host: str, port: int, base: str) -> None:
        self.host, self.port, self.base = host, port, base

    async def open(self) -> None:
        from drivers.lights.zigbee2mqtt import Zigbee2MqttLight, Zigbee2MqttLightOptions
        from drivers.transports.mqtt import BrokerSettings, MqttConnection, MqttTransport

        self.connection = MqttConnection(BrokerSettings(self.host, self.port))
        self.lights = [
            Zigbee2MqttLight(f"light-{i + 1}", MqttTransport(self.connection), timeout=ROUND_TIMEOUT,
                             options=Zigbee2MqttLightOptions(friendly_name=f"light-{i + 1}", base_topic=self.base))
            for i in range(LIGHTS)
        ]
        for light in self.lights:
            await light.connect()
            await light.poll()

    async def round(self, percent: int) -> float:
        from drivers.capabilities import SetBrightness

        command = SetBrightness(percent=percent)
        start = time.perf_counter()
        for light in self.lights:
            command.check(light)  # what the supervisor does before it sends
        await asyncio.gather(*(command.apply(light) for light in self.lights))
        return time.perf_counter() - start

    async def close(self) -> None:
        for light in self.lights:
            await light.close()
        await self.connection.stop()


async def measure(host: str, port: int) -> dict:
    base = f"bench-{uuid.uuid4().hex[:6]}"
    with simulator_process("zigbee2mqtt", "--broker", f"{host}:{port}", "--lights", str(LIGHTS),
                           "--base-topic", base):
        bare = await asyncio.to_thread(BareEcho, host, port, base)
        ours = Roomctl(host, port, base)
        await ours.open()
        bare_times, ours_times, bare_cpu, ours_cpu = [], [], [], []
        try:
            for r in range(ROUNDS):
                percent = 20 if r % 2 else 80
                raw = round(percent * 254 / 100)
                cpu = time.process_time()  # this process only: the client, not broker or simulator
                bare_times.append(await asyncio.to_thread(bare.round, raw))
                bare_cpu.append(time.process_time() - cpu)
                percent = 80 if r % 2 else 20  # back and forth, so every set changes the lamp
                cpu = time.process_time()
                ours_times.append(await ours.round(percent))
                ours_cpu.append(time.process_time() - cpu)
        finally:
            await asyncio.to_thread(bare.close)
            await ours.close()
    bare_ms = statistics.median(bare_times) * 1000
    ours_ms = statistics.median(ours_times) * 1000
    bare_cpu_ms = statistics.median(bare_cpu) * 1000
    ours_cpu_ms = statistics.median(ours_cpu) * 1000
    return {
        "bare_paho_ms_per_50": round(bare_ms, 2),
        "roomctl_ms_per_50": round(ours_ms, 2),
        "ratio": round(ours_ms / bare_ms, 3),
        "goal": "ratio <= 1.2",
        # Wall time includes the broker and the simulator, the same for both; the client's
        # own CPU shows what each costs by itself.
        "bare_paho_client_cpu_ms_per_50": round(bare_cpu_ms, 2),
        "roomctl_client_cpu_ms_per_50": round(ours_cpu_ms, 2),
        "client_cpu_ratio": round(ours_cpu_ms / bare_cpu_ms, 3),
    }


def main() -> dict:
    results = {}
    with embedded_broker_process() as (host, port):
        results["embedded_amqtt"] = asyncio.run(measure(host, port))
    if mosquitto_reachable():
        results["mosquitto"] = asyncio.run(measure("127.0.0.1", 1883))
    else:
        results["mosquitto"] = "left out: Mosquitto is not reachable at 127.0.0.1:1883"
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
