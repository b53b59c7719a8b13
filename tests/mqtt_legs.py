"""The two broker legs every MQTT test runs on: roomctl's embedded broker and Mosquitto.

Mosquitto is the one on 127.0.0.1:1883 that these machines run; a test on that leg is
skipped, saying why, only when nothing answers there. Topics are unique per test: the
shared Mosquitto keeps retained messages between runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass

import pytest

from controller.mqtt_broker import EmbeddedBroker, free_port

MOSQUITTO = ("127.0.0.1", 1883)
# A broker accepts a TCP connection within milliseconds on loopback.
REACH_TIMEOUT = 0.5


def mosquitto_unreachable() -> str | None:
    try:
        with socket.create_connection(MOSQUITTO, timeout=REACH_TIMEOUT):
            return None
    except OSError as exc:
        return f"Mosquitto is not reachable at {MOSQUITTO[0]}:{MOSQUITTO[1]} ({exc.strerror or exc})"


@dataclass
class BrokerLeg:
    name: str
    host: str
    port: int

    def endpoint(self) -> dict:
        return {"host": self.host, "port": self.port}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class PrivateMosquitto:
    """A Mosquitto process of the test's own, so the test may restart it (never the shared one)."""

    def __init__(self) -> None:
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="roomctl-mosquitto-")
        self.config = os.path.join(self._dir.name, "mosquitto.conf")
        with open(self.config, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process: subprocess.Popen | None = None

    @property
    def available(self) -> bool:
        return os.path.exists(self.binary)

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", self.config], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)  # a process starting: nothing to wait on but its port
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        self._dir.cleanup()


@pytest.fixture(params=["embedded", "mosquitto"])
async def broker(request):
    """Each MQTT test twice: on amqtt embedded in the test's loop, and on the machine's Mosquitto."""
    if request.param == "embedded":
        embedded = EmbeddedBroker()
        await embedded.start()
        yield BrokerLeg("embedded", embedded.host, embedded.port)
        await embedded.stop()
    else:
        reason = mosquitto_unreachable()
        if reason:
            pytest.skip(reason)
        yield BrokerLeg("mosquitto", *MOSQUITTO)


class HandClock:
    """A clock the test moves by hand, for the rooms' physics."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
