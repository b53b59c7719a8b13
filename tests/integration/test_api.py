"""The controller's API over real HTTP and WebSocket, on simulated rooms."""

import asyncio
import json
import sys
import textwrap

import httpx
import pytest
import websockets

from controller.app import Controller
from controller.config import parse_config
from drivers.status import Status
from helpers import wait_until

TOKEN = "test-technician-token-0123456789"


def site_config(tmp_path, extra_devices: str = ""):
    return parse_config(textwrap.dedent(f"""\
        site: test
        store: {tmp_path / 'events.sqlite3'}
        api:
          port: 0
          tokens: [{{name: tech, token: {TOKEN}, role: technician}}]
        rooms:
          - id: hall
            devices:
              - id: proj
                driver: pjlink
                simulate: true
                timeout: 0.5
                poll_interval: 0.3
                options: {{password: secret}}
                simulator: {{warmup: 0.2, cooldown: 0.2}}
              - id: epson
                driver: escvp21
                simulate: true
                timeout: 0.5
                poll_interval: 0.3
                simulator: {{warmup: 0.2, cooldown: 0.2}}
        {extra_devices}"""))


@pytest.fixture
async def controller(tmp_path):
    controller = Controller(site_config(tmp_path))
    await controller.start()
    missing = await controller.wait_until_online(10)
    assert not missing
    yield controller
    await controller.stop()


@pytest.fixture
async def client(controller):
    async with httpx.AsyncClient(base_url=controller.url, timeout=10) as client:
        yield client


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_rooms_and_devices_with_live_state(client):
    rooms = (await client.get("/api/rooms")).json()
    assert rooms == [{"id": "hall", "name": "hall", "status": "ok", "attended": False,
                      "device_status": {"proj": "online", "epson": "online"}}]
    proj = (await client.get("/api/rooms/hall/devices/proj")).json()
    assert proj["status"] == "online"
    assert proj["state"]["power"] == "off"
    assert "power" in proj["capabilities"]
    assert (await client.get("/api/health")).json()["devices"] == {"online": 2}


async def test_a_command_drives_the_simulated_projector(client, controller):
    response = await client.post("/api/rooms/hall/devices/proj/commands", json={"type": "power", "on": True}, headers=AUTH)
    assert response.status_code == 200, response.text
    device = controller.site.device("hall", "proj").device
    await wait_until(lambda: device.state.get("power") == "on", within=5, what="projector on")
    events = (await client.get("/api/events", params={"device": "proj", "limit": 200})).json()
    commands = [e for e in events if e["kind"] == "command"]
    assert commands and commands[0]["actor"] == "tech" and commands[0]["data"] == {"type": "power", "on": True}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": "Basic abc"}])
async def test_writes_need_a_token(client, headers):
    response = await client.post("/api/rooms/hall/devices/proj/commands", json={"type": "power", "on": True}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


@pytest.mark.parametrize("body, status, error", [
    ({"type": "power", "on": "maybe"}, 422, None),
    ({"type": "volume", "level": 11}, 422, None),
    ({"type": "input", "input": "HDMI 1; rm -rf"}, 422, None),
    ({"type": "input", "input": "hdmi7"}, 422, "InvalidCommand"),
    ({"type": "av_mute"}, 422, None),
    ({"type": "freeze", "on": True, "extra": 1}, 422, None),
])
async def test_bad_commands_get_a_clear_4xx(client, body, status, error):
    response = await client.post("/api/rooms/hall/devices/proj/commands", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    if error:
        assert response.json()["error"] == error
        assert response.json()["field"] == "input"


async def test_unknown_room_or_device_is_404(client):
    for path in ("/api/rooms/nope", "/api/rooms/hall/devices/nope"):
        response = await client.get(path)
        assert response.status_code == 404 and response.json()["error"] == "NotFound"
    response = await client.post("/api/rooms/hall/devices/nope/commands", json={"type": "power", "on": True}, headers=AUTH)
    assert response.status_code == 404


async def test_command_to_an_offline_device_is_503(client, controller):
    runtime = controller.site.device("hall", "proj")
    sim = next(s for s in controller.simulators if s.protocol == "pjlink")
    sim.inject("no_reply")
    await wait_until(lambda: runtime.supervisor.status is Status.OFFLINE, within=3, what="offline")
    response = await client.post("/api/rooms/hall/devices/proj/commands", json={"type": "power", "on": True}, headers=AUTH)
    assert response.status_code == 503
    assert response.json()["error"] == "DeviceUnreachable"
    sim.clear_faults()
    await wait_until(lambda: runtime.supervisor.status is Status.ONLINE, within=5, what="online again")


async def test_websocket_sends_a_snapshot_then_changes(client, controller):
    ws_url = controller.url.replace("http", "ws") + "/api/ws"
    async with websockets.connect(ws_url) as ws:
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert snapshot["type"] == "snapshot"
        assert {d["id"] for d in snapshot["rooms"][0]["devices"]} == {"proj", "epson"}
        await client.post("/api/rooms/hall/devices/epson/commands", json={"type": "power", "on": True}, headers=AUTH)

        async def power_on_seen():
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "state" and message["device"] == "epson" and message["data"].get("power") == "on":
                    return message

        message = await asyncio.wait_for(power_on_seen(), 10)
        assert message["room"] == "hall"


async def test_openapi_documents_the_command_endpoint(client):
    schema = (await client.get("/openapi.json")).json()
    post = schema["paths"]["/api/rooms/{room_id}/devices/{device_id}/commands"]["post"]
    assert {"401", "404", "409", "422", "503", "504"} <= set(post["responses"])


async def test_event_log_survives_a_restart(tmp_path):
    first = Controller(site_config(tmp_path))
    await first.start()
    assert not await first.wait_until_online(10)
    async with httpx.AsyncClient(base_url=first.url) as client:
        await client.post("/api/rooms/hall/devices/proj/commands", json={"type": "power", "on": True}, headers=AUTH)
    await first.stop()
    second = Controller(site_config(tmp_path))
    await second.start()
    try:
        async with httpx.AsyncClient(base_url=second.url) as client:
            events = (await client.get("/api/events", params={"limit": 1000})).json()
        assert any(e["kind"] == "command" and e["actor"] == "tech" for e in events)
    finally:
        await second.stop()


async def test_status_command_reads_a_running_controller(controller):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli", "status", "--url", controller.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err
    lines = out.decode().splitlines()
    assert lines[0].split()[:4] == ["room", "device", "driver", "status"]
    assert any(line.split()[:4] == ["hall", "proj", "pjlink", "online"] for line in lines)
    assert any(line.split()[:4] == ["hall", "epson", "escvp21", "online"] for line in lines)


async def test_status_command_says_when_nothing_answers():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli", "status", "--url", "http://127.0.0.1:9",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 3
    assert b"no controller answers" in err
