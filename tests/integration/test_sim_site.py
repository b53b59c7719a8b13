"""`roomctl sim site CONFIG`: every simulator of a site in one process, and where each listens."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as paho

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
ROOMCTL = [sys.executable, "-m", "controller.cli"]
START_TIMEOUT = 30.0  # every simulator of the demo, a broker included, starts in a few seconds


def _read_until_ready(process) -> list[str]:
    lines, deadline = [], time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.strip() == "ready":
            return lines
    raise AssertionError(f"sim site did not get ready: {lines}")


def test_sim_site_runs_every_simulator_of_the_demo_and_says_where_each_listens():
    process = subprocess.Popen([*ROOMCTL, "sim", "site", str(DEMO)], stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        lines = _read_until_ready(process)
        broker = next(line for line in lines if line.startswith("mqtt broker listening "))
        host, port = broker.split()[-1].rsplit(":", 1)
        listening = {line.split()[0]: line for line in lines if " listening " in line and not line.startswith("mqtt")}
        for device in ("hall-a/projector", "hall-a/ceiling-lights", "hall-a/stage-spots", "hall-a/air-conditioning",
                       "room-201/thermostat", "room-201/projector-screen"):
            assert device in listening, lines
        assert "/dev/pts/" in listening["hall-a/air-conditioning"]
        assert f"mqtt://{host}:{port}" in listening["hall-a/ceiling-lights"]

        # The simulated devices are on that broker, answering as Zigbee2MQTT and Tasmota do.
        got: dict[str, bytes] = {}
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        client.on_message = lambda c, u, m: got.setdefault(m.topic, m.payload)
        client.connect(host, int(port))
        client.subscribe([("zigbee2mqtt/hall-a/ceiling/availability", 1), ("tele/hall-a-spots/LWT", 1)])
        client.loop_start()
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # paho's thread fills `got`; this only looks at it
        client.loop_stop()
        client.disconnect()
        assert got == {"zigbee2mqtt/hall-a/ceiling/availability": b'{"state":"online"}',
                       "tele/hall-a-spots/LWT": b"Online"}

        # Faults by room/device from standard input.
        process.stdin.write("hall-a/stage-spots inject disconnect\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "injected disconnect"
        process.stdin.write("broker restart\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == f"broker restarted on {host}:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()
