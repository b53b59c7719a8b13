"""Roles, PIN sessions, origin checks and the audit of writes, over real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import websockets

from controller.auth import LoginLimiter, SessionStore
from controller.auth_config import LoginLimitConfig, SessionConfig
from controller.config import ConfigError, parse_config
from controller.store import Store
from sites import NAMES, PIN, PIN_USER, TOKENS, auth, hall_yaml, running

EVIL = "http://evil.example"


async def test_a_tablet_controls_its_own_room_and_is_refused_everywhere_else(small_client):
    client = small_client
    assert (await client.get("/api/rooms/hall/tablet", headers=auth("tablet"))).status_code == 200
    assert (await client.get("/api/rooms/hall", headers=auth("tablet"))).status_code == 200
    refused = [
        await client.get("/api/rooms/annex/tablet", headers=auth("tablet")),
        await client.post("/api/rooms/annex/scenes/presentation", headers=auth("tablet")),
        await client.post("/api/rooms/annex/tablet/controls", json={"control": "input", "input": "digital1"},
                          headers=auth("tablet")),
        await client.get("/api/rooms/annex", headers=auth("tablet")),
        # in its own room, only its scenes and controls: not raw device commands, not the technician's Ready
        await client.post("/api/rooms/hall/devices/proj/commands", json={"type": "power", "on": True},
                          headers=auth("tablet")),
        await client.post("/api/rooms/hall/scenes/ready", headers=auth("tablet")),
        await client.post("/api/rooms/hall/selftest/runs", json={}, headers=auth("tablet")),
        await client.get("/api/rooms", headers=auth("tablet")),
        await client.get("/api/events", headers=auth("tablet")),
        await client.get("/api/archive", headers=auth("tablet")),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    assert refused[0].json() == {"error": "Forbidden", "message": "this tablet controls hall only"}
    assert refused[5].json()["message"] == "scene 'ready' is not on this room's tablet"
    recalled = await client.post("/api/rooms/hall/scenes/presentation", headers=auth("tablet"))
    assert recalled.status_code == 200 and recalled.json()["ok"], recalled.text


async def test_kiosk_tokens_check_in_only_and_admins_read_the_config_with_secrets_masked(small_client):
    client = small_client
    for method, path in [("GET", "/api/rooms"), ("POST", "/api/rooms/hall/scenes/presentation"),
                         ("GET", "/api/console/rooms"), ("POST", "/api/rooms/hall/selftest/runs")]:
        response = await client.request(method, path, headers=auth("kiosk"))
        assert response.status_code == 403, (path, response.text)
    assert (await client.get("/api/config", headers=auth("technician"))).status_code == 403
    config = (await client.get("/api/config", headers=auth("admin"))).json()
    text = json.dumps(config)
    assert config["site"] == "web" and TOKENS["technician"] not in text and PIN not in text
    assert config["api"]["tokens"][0]["token"] == "**********"


async def test_a_pin_login_gives_a_session_that_acts_under_the_persons_name_until_signed_out(small_venue, small_client):
    client = small_client
    wrong = await client.post("/api/auth/login", json={"user": PIN_USER, "pin": "000000"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "PinRejected"
    login = await client.post("/api/auth/login", json={"user": PIN_USER.upper(), "pin": PIN})
    assert login.status_code == 200, login.text
    session = login.json()
    assert session["name"] == PIN_USER and session["role"] == "technician" and session["token"].startswith("s1.")
    headers = {"Authorization": f"Bearer {session['token']}"}
    me = (await client.get("/api/auth/me", headers=headers)).json()
    assert me["name"] == PIN_USER and me["via"] == "session"
    done = await client.post("/api/rooms/hall/devices/proj/commands", json={"type": "power", "on": True}, headers=headers)
    assert done.status_code == 200
    listed = (await client.get("/api/auth/sessions", headers=auth("admin"))).json()
    assert [s["name"] for s in listed] == [PIN_USER]
    assert (await client.post("/api/auth/logout", headers=headers)).json() == {"ended": True}
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401
    events = await small_venue.store.events(room="hall", kinds=["command"], limit=10)
    assert events[0]["actor"] == PIN_USER


async def test_wrong_pins_lock_the_name_for_a_while_then_the_right_pin_works(tmp_path):
    text = hall_yaml(tmp_path, mqtt=False, auth_extra="login: {max_failures: 3, lockout_seconds: 1}")
    async with running(text) as controller, httpx.AsyncClient(base_url=controller.url, timeout=30) as client:
        answers = [await client.post("/api/auth/login", json={"user": PIN_USER, "pin": "111111"}) for _ in range(3)]
        assert [a.status_code for a in answers] == [401, 401, 401]
        assert "2 tries left" in answers[0].json()["message"] and "locked" in answers[2].json()["message"]
        locked = await client.post("/api/auth/login", json={"user": PIN_USER, "pin": PIN})
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
        assert locked.json()["error"] == "LockedOut"

        async def right_pin_works() -> bool:
            return (await client.post("/api/auth/login", json={"user": PIN_USER, "pin": PIN})).status_code == 200

        deadline = asyncio.get_running_loop().time() + 5
        while not await right_pin_works():  # each try is refused with 429 until the lock ends
            assert asyncio.get_running_loop().time() < deadline, "still locked after 5 s"
            await asyncio.sleep(0.1)
        failed = await controller.store.events(kinds=["auth"], limit=10)
        assert [e["data"]["event"] for e in failed].count("login_failed") == 3


def test_each_further_lock_lasts_twice_as_long():
    now = [100.0]
    limiter = LoginLimiter(LoginLimitConfig(max_failures=2, lockout_seconds=30), monotonic=lambda: now[0])
    key = ("user", "li lei")
    assert limiter.failed(key) == 1 and limiter.failed(key) == 0
    assert limiter.locked_for(key) == 30
    now[0] += 30
    assert limiter.locked_for(key) <= 0
    limiter.failed(key)
    limiter.failed(key)
    assert limiter.locked_for(key) == 60
    limiter.succeeded(key)
    assert limiter.locked_for(key) == 0


async def test_sessions_end_when_idle_or_at_their_end_and_survive_a_restart(tmp_path):
    now = [datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)]
    settings = SessionConfig(idle_minutes=30, max_hours=2)
    store = Store(tmp_path / "s.sqlite3")
    await store.open()
    try:
        sessions = SessionStore(store, settings, now=lambda: now[0])
        idle_token, _ = await sessions.open("Li Lei", "technician", None)
        busy_token, _ = await sessions.open("Wang Fang", "technician", None)
        for _ in range(5):  # Wang Fang keeps working; Li Lei walked away
            now[0] += timedelta(minutes=20)
            assert await sessions.find(busy_token) is not None
        assert await sessions.find(idle_token) is None
        # a restart: the store remembers who is signed in (only their tokens' SHA-256)
        again = SessionStore(store, settings, now=lambda: now[0])
        assert (await again.find(busy_token)).name == "Wang Fang"
        now[0] += timedelta(minutes=25)  # 2 h 5 min after signing in: over, however busy
        assert await again.find(busy_token) is None
        rows = await store.call(lambda db: db.execute("SELECT token_sha256 FROM auth_sessions").fetchall())
        assert all(busy_token not in row[0] for row in rows)
    finally:
        await store.close()


async def test_cross_origin_writes_and_sockets_are_refused(small_venue, small_client):
    client = small_client
    evil = await client.post("/api/rooms/hall/scenes/presentation", headers={**auth("technician"), "Origin": EVIL})
    assert evil.status_code == 403 and evil.json()["message"] == "cross-origin request refused"
    own = await client.post("/api/rooms/hall/scenes/shutdown", headers={**auth("technician"), "Origin": small_venue.url})
    assert own.status_code == 200
    ws = small_venue.url.replace("http", "ws")
    for path in ("/api/live", "/api/ws", "/api/kiosk/live"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(ws + path, origin=EVIL):
                pass
        assert refused.value.response.status_code == 403
    async with websockets.connect(ws + "/api/live", origin=small_venue.url) as socket:
        await socket.send(json.dumps({"token": TOKENS["technician"]}))
        hello = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert hello[0]["type"] == "hello" and hello[0]["who"]["name"] == NAMES["technician"]


async def test_every_write_is_in_the_event_log_with_who_sent_it_even_when_refused(small_venue, small_client):
    client = small_client
    await client.post("/api/rooms/hall/scenes/presentation", headers=auth("tablet"))
    await client.post("/api/rooms/annex/scenes/presentation", headers=auth("tablet"))
    await client.post("/api/rooms/hall/scenes/shutdown")
    audits = await stored(lambda: small_venue.store.events(kinds=["audit"], limit=20), lambda found: len(found) >= 3)
    found = [(e["actor"], e["room"], e["data"]["status"], e["data"]["path"]) for e in reversed(audits)]
    assert found[:3] == [(NAMES["tablet"], "hall", 200, "/api/rooms/hall/scenes/presentation"),
                         (NAMES["tablet"], "annex", 403, "/api/rooms/annex/scenes/presentation"),
                         ("anonymous", "hall", 401, "/api/rooms/hall/scenes/shutdown")]


async def stored(fetch, condition, within: float = 5.0):
    """What ``fetch`` reads from the store once ``condition`` holds (events are written in batches)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition(found := await fetch()):
        assert asyncio.get_running_loop().time() < deadline, "not recorded in time"
        await asyncio.sleep(0.02)
    return found


async def test_anonymous_reads_are_for_this_machine_only(tmp_path, small_venue, small_client):
    assert (await small_client.get("/api/rooms")).status_code == 200  # the CLI on the controller itself
    rebound = await small_client.get("/api/rooms", headers={"Host": "evil.example"})  # a page that rebound its DNS
    assert rebound.status_code == 401
    assert (await small_client.post("/api/rooms/hall/scenes/shutdown")).status_code == 401  # writes: never
    text = hall_yaml(tmp_path / "closed", mqtt=False, auth_extra="open_reads: nowhere")
    (tmp_path / "closed").mkdir()
    async with running(text) as closed, httpx.AsyncClient(base_url=closed.url) as client:
        assert (await client.get("/api/rooms")).status_code == 401
        assert (await client.get("/api/health")).status_code == 200
        assert (await client.get("/api/rooms", headers=auth("technician"))).status_code == 200


async def test_a_tablets_socket_hears_only_its_own_room(small_venue, small_client):
    ws = small_venue.url.replace("http", "ws") + "/api/live"
    async with websockets.connect(ws) as socket:
        await socket.send(json.dumps({"token": TOKENS["tablet"], "rooms": ["annex", "hall"]}))
        hello, snapshot = json.loads(await socket.recv()), json.loads(await socket.recv())
        assert hello[0]["who"]["room"] == "hall"
        assert [room["id"] for room in snapshot[0]["rooms"]] == ["hall"]
        await small_client.post("/api/rooms/annex/devices/display/commands", json={"type": "power", "on": True},
                                headers=auth("technician"))
        await small_client.post("/api/rooms/hall/devices/proj/commands", json={"type": "power", "on": True},
                                headers=auth("technician"))
        seen = []

        async def hall_projector_on() -> None:
            while True:
                for message in json.loads(await socket.recv()):
                    seen.append(message)
                    if message.get("device") == "proj" and message["data"].get("power") == "on":
                        return

        await asyncio.wait_for(hall_projector_on(), WITHIN_SOCKET)
        assert {m["room"] for m in seen} == {"hall"}
        assert {m["type"] for m in seen} <= {"state", "status", "scene"}
    async with websockets.connect(ws) as refused:
        await refused.send(json.dumps({"token": TOKENS["kiosk"]}))
        assert json.loads(await refused.recv())[0]["type"] == "denied"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await refused.recv()
        assert closed.value.rcvd.code == 4403


WITHIN_SOCKET = 10.0


@pytest.mark.parametrize("tokens, message", [
    ("[{name: t, token: tablet-token-0123456789, role: tablet}]", "a tablet is bound to one room: give room"),
    ("[{name: t, token: tablet-token-0123456789, role: tablet, room: attic}]", "api.tokens[0] (t): no room 'attic'"),
    ("[{name: t, token: tech-token-0123456789, role: technician, room: hall}]", "room binds tablets only"),
])
def test_a_tablet_token_names_a_room_of_the_site(tokens, message):
    text = f"site: s\napi: {{tokens: {tokens}}}\nrooms: [{{id: hall}}]\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert message in str(error.value.problems[0])


def test_the_tablet_section_names_the_rooms_own_mics_and_devices():
    text = ("site: s\nrooms:\n  - id: hall\n    devices: [{id: proj, driver: pjlink, host: 10.0.0.2}]\n"
            "    tablet: {mics: [Chair]}\n")
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert "tablet.mics: no mic 'Chair' in audio.mics" in str(error.value.problems[0])
    with pytest.raises(ConfigError) as error:
        parse_config(text.replace("{mics: [Chair]}", "{climate: proj, volume_db: [0, -10]}"))
    assert "volume_db is [low, high]" in str(error.value.problems[0])
