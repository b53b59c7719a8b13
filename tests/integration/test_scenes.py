"""Scenes: declared in the room's config, validated against capabilities, recalled over the API."""

import asyncio
import sys
import textwrap

import httpx
import pytest

from controller.app import Controller
from controller.config import ConfigError, parse_config
from drivers.status import Status
from helpers import wait_until

TOKEN = "scene-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ROOM = """\
site: test
store: {store}
api: {{port: 0, tokens: [{{name: host tablet, token: {token}, role: technician}}]}}
rooms:
  - id: hall
    devices:
      - {{id: proj, driver: pjlink, simulate: true, timeout: 0.4, poll_interval: 0.2,
         simulator: {{warmup: 0.3, cooldown: 0.3}}}}
      - {{id: epson, driver: escvp21, simulate: true, timeout: 0.5, poll_interval: 0.2,
         simulator: {{warmup: 0.3, cooldown: 0.3}}}}
    scenes:
{scenes}
"""

SCENES = """\
presentation:
  name: Presentation
  steps:
    - parallel:
        - {device: proj, command: {type: power, on: true}}
        - {device: epson, command: {type: power, on: true}}
    - parallel:
        - {wait: {device: proj, state: power, equals: "on"}, timeout: 10}
        - {wait: {device: epson, state: power, equals: "on"}, timeout: 10}
    - {device: proj, command: {type: input, input: digital1}}
    - {device: epson, command: {type: input, input: hdmi1}}
shutdown:
  steps:
    - {device: epson, command: {type: power, on: false}, on_failure: continue}
    - {device: proj, command: {type: power, on: false}}
break:
  steps:
    - {device: proj, command: {type: av_mute, video: true, audio: true}, on_failure: "playbook:projector-offline"}
    - {device: epson, command: {type: power, on: false}}
strict:
  steps:
    - {device: epson, command: {type: power, on: false}}
    - {device: proj, command: {type: power, on: false}}
slow:
  steps:
    - {delay: 5}
"""


def config_text(tmp_path, scenes=SCENES):
    return ROOM.format(store=tmp_path / "events.sqlite3", token=TOKEN, scenes=textwrap.indent(scenes, "      "))


@pytest.fixture
async def controller(tmp_path):
    controller = Controller(parse_config(config_text(tmp_path)))
    await controller.start()
    assert not await controller.wait_until_online(10)
    yield controller
    await controller.stop()


async def test_presentation_scene_powers_on_waits_and_selects_inputs(controller):
    result = await controller.scenes.recall("hall", "presentation", actor="host tablet")
    assert result.ok, result
    assert [s.step for s in result.steps] == ["1.1", "1.2", "2.1", "2.2", "3", "4"]
    assert all(s.ok and s.duration_ms >= 0 for s in result.steps)
    waits = [s for s in result.steps if s.kind == "wait"]
    assert all(s.duration_ms >= 250 for s in waits)  # the projectors really warmed up first
    proj = controller.site.device("hall", "proj").device
    epson = controller.site.device("hall", "epson").device
    await wait_until(lambda: proj.state.get("input") == "digital1" and epson.state.get("input") == "hdmi1",
                     within=5, what="both inputs selected")


async def test_a_failed_step_stops_the_scene_unless_told_to_continue(controller):
    epson_sim = next(s for s in controller.simulators if s.protocol == "escvp21")
    epson_sim.inject("no_reply")
    runtime = controller.site.device("hall", "epson")
    await wait_until(lambda: runtime.supervisor.status is Status.OFFLINE, within=3, what="epson offline")
    result = await controller.scenes.recall("hall", "shutdown", actor="t")
    assert [(s.device, s.ok) for s in result.steps] == [("epson", False), ("proj", True)]
    assert result.steps[0].error == "DeviceUnreachable"
    assert not result.ok  # it did not all happen, and the answer says so
    result = await controller.scenes.recall("hall", "strict", actor="t")
    assert [(s.device, s.ok) for s in result.steps] == [("epson", False)]  # stopped there


async def test_a_step_may_ask_for_a_playbook_and_the_scene_goes_on(controller):
    proj_sim = next(s for s in controller.simulators if s.protocol == "pjlink")
    proj_sim.inject("no_reply")
    runtime = controller.site.device("hall", "proj")
    await wait_until(lambda: runtime.supervisor.status is Status.OFFLINE, within=3, what="proj offline")
    with controller.bus.subscribe() as events:
        result = await controller.scenes.recall("hall", "break", actor="t")
        assert result.playbooks_requested == ["projector-offline"]
        assert [s.device for s in result.steps] == ["proj", "epson"]
        seen = []
        while not events.queue.empty():
            seen.append(events.queue.get_nowait())
    assert any(e.kind == "playbook_requested" and e.data["playbook"] == "projector-offline" for e in seen)


async def test_a_newer_recall_cancels_the_running_one(controller):
    slow = asyncio.create_task(controller.scenes.recall("hall", "slow", actor="t"))
    await wait_until(lambda: controller.scenes._running.get("hall") is not None, within=2, what="slow running")
    quick = await controller.scenes.recall("hall", "shutdown", actor="t")
    cancelled = await asyncio.wait_for(slow, 3)
    assert cancelled.cancelled and not cancelled.ok
    assert quick.ok and not quick.cancelled


async def test_scenes_over_the_api_and_the_cli(controller):
    async with httpx.AsyncClient(base_url=controller.url, timeout=30) as client:
        listed = (await client.get("/api/rooms/hall/scenes")).json()
        assert {"id": "presentation", "name": "Presentation", "steps": 4} in listed
        assert (await client.post("/api/rooms/hall/scenes/presentation")).status_code == 401
        assert (await client.post("/api/rooms/hall/scenes/nope", headers=AUTH)).status_code == 404
        response = await client.post("/api/rooms/hall/scenes/presentation", headers=AUTH)
        assert response.status_code == 200 and response.json()["ok"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli", "scene", "hall", "shutdown", "--url", controller.url, "--token", TOKEN,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err
    assert out.decode().splitlines()[0].startswith("hall / shutdown: ok in ")
    assert "epson: power on=False" in out.decode()


@pytest.mark.parametrize("scenes, problem", [
    ("x:\n  steps:\n    - {device: nope, command: {type: power, on: true}}\n",
     "scenes.x.steps[0]: no device 'nope' in room hall"),
    ("x:\n  steps:\n    - {device: epson, command: {type: freeze, on: true}}\n",
     "scenes.x.steps[0]: epson (escvp21) has no freeze capability for freeze"),
    ("x:\n  steps:\n    - parallel:\n        - {wait: {device: proj, state: brightness, equals: 5}}\n",
     "scenes.x.steps[0].parallel[0]: proj (pjlink) reports no 'brightness'"),
    ("x:\n  steps:\n    - {device: proj, command: {type: power, on: maybe}}\n",
     "rooms[0].scenes.x.steps[0].command.power.on: Input should be a valid boolean"),
    ("x:\n  steps:\n    - {device: proj, command: {type: power, on: true}, on_failure: panic}\n",
     "on_failure is stop, continue or playbook:NAME"),
    ("x:\n  steps: []\n", "rooms[0].scenes.x.steps: List should have at least 1 item"),
])
def test_scene_config_errors_name_their_place(tmp_path, scenes, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config(config_text(tmp_path, scenes))
    problems = [str(p) for p in caught.value.problems]
    assert any(problem in p for p in problems), problems
