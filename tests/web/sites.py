"""Simulated venues for the page and API tests: a hall with a projector, two wireless mics
wired into a mixer, a light and a thermostat on the embedded MQTT broker; an annex with a
display. Tokens for every role, a PIN user, and the tablet's ranges."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import textwrap
import threading
from pathlib import Path

from controller.app import Controller
from controller.config import parse_config

TOKENS = {
    "technician": "web-technician-token-0123456789",
    "admin": "web-admin-token-0123456789abcd",
    "kiosk": "web-kiosk-token-0123456789abcde",
    "tablet": "web-hall-tablet-token-012345678",
    "annex-tablet": "web-annex-tablet-token-0123456",
}
NAMES = {"technician": "av tech", "admin": "venue admin", "kiosk": "desk page", "tablet": "hall tablet",
         "annex-tablet": "annex tablet"}
PIN_USER, PIN = "Li Lei", "246810"

# Everything is on 127.0.0.1: answers take milliseconds; these bound a broken test.
WITHIN = 10.0
FAST = "timeout: 0.5, poll_interval: 0.3"


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hall_yaml(tmp_path: Path, *, port: int = 0, auth_extra: str = "", annex_extra: str = "",
              mqtt: bool = True, pin_users: str = "") -> str:
    """The whole venue. ``mqtt=False`` leaves out the light and the thermostat (no broker: faster);
    ``pin_users``: more people who sign in with a PIN, as YAML flow mappings after the technician's."""
    mqtt_devices = f"""
      - {{id: light, name: Ceiling, driver: z2m_light, simulate: true, {FAST}, options: {{friendly_name: hall/ceiling}}}}
      - {{id: thermostat, name: Thermostat, driver: z2m_thermostat, simulate: true, {FAST},
         options: {{friendly_name: hall/thermostat}}, simulator: {{temperature: 25, outside: 30}}}}""" if mqtt else ""
    tablet_mqtt = "lights: [light]\n      climate: thermostat" if mqtt else "lights: []"
    return textwrap.dedent(f"""\
site: web
name: Web test venue
store: {tmp_path / 'web.sqlite3'}
api:
  port: {port}
  tokens:
    - {{name: {NAMES['technician']}, token: {TOKENS['technician']}, role: technician}}
    - {{name: {NAMES['admin']}, token: {TOKENS['admin']}, role: admin}}
    - {{name: {NAMES['kiosk']}, token: {TOKENS['kiosk']}, role: kiosk}}
    - {{name: {NAMES['tablet']}, token: {TOKENS['tablet']}, role: tablet, room: hall}}
    - {{name: {NAMES['annex-tablet']}, token: {TOKENS['annex-tablet']}, role: tablet, room: annex}}
  auth:
    pin_users: [{{name: {PIN_USER}, pin: "{PIN}", role: technician}}{", " + pin_users if pin_users else ""}]
    {auth_extra}
rooms:
  - id: hall
    name: Hall
    selftest:
      thresholds: {{speak_within: 4, power_on_within: 10, reconnect_wait: 1}}
    devices:
      - {{id: proj, name: Projector, driver: pjlink, simulate: true, {FAST}, simulator: {{warmup: 0.2, cooldown: 0.2}}}}
      - {{id: mics, name: Mics, driver: shure, simulate: true, {FAST}, simulator: {{model: ULXD4D}}}}
      - {{id: mixer, name: Mixer, driver: xair, simulate: true, {FAST}, options: {{channels: 4}},
         simulator: {{inputs: {{1: mics/1, 2: mics/2}}}}}}{mqtt_devices}
    audio:
      mixer: mixer
      mics:
        - {{name: Chair, receiver: mics, channel: 1, mixer: mixer, input: 1}}
        - {{name: Spare, receiver: mics, channel: 2, mixer: mixer, input: 2, spare: true}}
    tablet:
      scenes: [presentation, shutdown]
      volume_db: [-30, -5]
      setpoint_c: [21, 25]
      mics: [Chair]
      inputs: {{digital1: Laptop, digital2: Camera}}
      {tablet_mqtt}
    playbooks: {{confirm_timeout: 30}}
    scenes:
      ready:
        steps: [{{device: proj, command: {{type: power, "on": true}}}}]
      presentation:
        name: Presentation
        steps:
          - parallel:
              - {{device: proj, command: {{type: power, "on": true}}}}
              {"- {device: light, command: {type: brightness, percent: 40}}" if mqtt else ""}
          - {{wait: {{device: proj, state: power, equals: "on"}}, timeout: 10}}
          - {{device: proj, command: {{type: input, input: digital1}}}}
          - {{device: mixer, command: {{type: fader, channel: main, db: -10}}}}
      shutdown:
        name: Shutdown
        steps:
          - {{device: proj, command: {{type: power, "on": false}}, on_failure: continue}}
          - {{device: mixer, command: {{type: channel_mute, channel: main, muted: true}}}}
  - id: annex
    name: Annex
    devices:
      - {{id: display, name: Display, driver: pjlink, simulate: true, {FAST}, simulator: {{warmup: 0.2, cooldown: 0.2}}}}
    scenes:
      presentation:
        steps: [{{device: display, command: {{type: power, "on": true}}}}]
{annex_extra}""")


@contextlib.asynccontextmanager
async def running(text: str):
    """A controller for ``text``, started, with every device online."""
    controller = Controller(parse_config(text))
    await controller.start()
    try:
        missing = await controller.wait_until_online(WITHIN)
        assert not missing, missing
        yield controller
    finally:
        await controller.stop()


def sim(controller, place: str):
    return controller.placed_simulators[place]


class ServedInThread:
    """A controller for ``text`` on its own event loop in a thread, for tests that drive it with
    blocking clients (Hypothesis runs each example synchronously). ``call`` runs a coroutine
    on the controller's loop and waits for its answer."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="controller under test", daemon=True)
        self.controller: Controller | None = None

    def start(self) -> Controller:
        self.thread.start()
        self.call(self._start(), within=3 * WITHIN)
        return self.controller

    async def _start(self) -> None:
        self.controller = Controller(parse_config(self.text))
        await self.controller.start()
        missing = await self.controller.wait_until_online(WITHIN)
        assert not missing, missing

    def call(self, coroutine, *, within: float = WITHIN):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(within)

    def stop(self) -> None:
        if self.controller is not None:
            self.call(self.controller.stop(), within=3 * WITHIN)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WITHIN)
        self.loop.close()


# A check-in desk on the same controller (kiosk/web.py): its API and socket are served, and
# documented, by the same app. No sync: no broker needed.
DESK = """\
kiosk:
  id: desk-1
  event: 1
  supervisor_pin: "135790"
  sync: false
"""
