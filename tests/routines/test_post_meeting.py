"""After the meeting: every mic counted (the missing one by name), checked for damage by the
technician, the room restored to its baseline and shut down, the session log signed."""

import asyncio
import hashlib
import json
import sys

import httpx
import pytest

from controller.app import Controller
from controller.config import ConfigError, parse_config
from controller.post_meeting import canonical, verify_session_log
from drivers.capabilities import Power, SetFader, SetPower
from helpers import wait_until
from routine_helpers import around_now, next_event

TOKEN = "postmeeting-technician-token-01"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ROOM = """\
site: venue
store: {store}
clock: {{speed: {speed}}}
api: {{port: 0, tokens: [{{name: av tech, token: {token}, role: technician}}]}}
rooms:
  - id: hall
    name: Hall A
{bookings}
    audio:
      mixer: mixer
      baseline_scene: 1
      mics:
        - {{name: Chair, receiver: mics, channel: 1, mixer: mixer, input: 1}}
        - {{name: Guest, receiver: mics, channel: 2, mixer: mixer, input: 2}}
        - {{name: Floor, receiver: mics, channel: 3, mixer: mixer, input: 3}}
        - {{name: Spare, receiver: mics, channel: 4, mixer: mixer, input: 4, spare: true}}
    post_meeting: {{switch_off_within: 20, damage_check_timeout: {damage_timeout}}}
    scenes:
{scenes}
    devices:
      - {{id: proj, name: Main projector, driver: pjlink, simulate: true, timeout: 0.4, poll_interval: 0.2,
         simulator: {{warmup: 0.3, cooldown: 0.3}}}}
      - {{id: mics, name: Receiver, driver: shure, simulate: true, timeout: 0.5, poll_interval: 0.3,
         options: {{metering: false}}, simulator: {{model: ULXD4Q{transmitters}}}}}
      - {{id: mixer, name: Mixer, driver: xair, simulate: true, timeout: 0.5, options: {{channels: 4}}}}
"""
SHUTDOWN = """\
      shutdown:
        name: Shutdown
        steps:
          - {device: proj, command: {type: power, on: false}}
"""


def room_text(tmp_path, *, speed=1, damage_timeout=20, bookings="", scenes=SHUTDOWN, transmitters="") -> str:
    return ROOM.format(store=tmp_path / "p.sqlite3", token=TOKEN, speed=speed, damage_timeout=damage_timeout,
                       bookings=bookings, scenes=scenes or "      {}", transmitters=transmitters)


async def started(text: str) -> Controller:
    controller = Controller(parse_config(text))
    await controller.start()
    assert not await controller.wait_until_online(10)
    return controller


def prompt_asked(step: str):
    return lambda e: e.kind == "prompt" and e.data["event"] == "asked" and e.data.get("step") == step


async def test_post_meeting_names_the_missing_transmitter_checks_restores_shuts_down_and_signs(tmp_path):
    controller = await started(room_text(tmp_path))
    try:
        receiver, mixer, proj = (controller.site.device("hall", d) for d in ("mics", "mixer", "proj"))
        sim = controller.placed_simulators["hall/mics"]
        # The meeting left things as meetings do: the chair's mic still on the table, the guest walked
        # out with theirs (still on, out of range), the floor mic and the spare switched off, the
        # projector on, and the chair's fader pulled down.
        sim.inject("rf_loss", channel=2)
        sim.switch_transmitter(3, False)
        sim.switch_transmitter(4, False)
        await controller.site.execute("hall", "proj", SetPower(on=True), actor="test")
        await wait_until(lambda: 1 in mixer.device.state.get("faders", {}), within=5, what="mixer read")
        await controller.site.execute("hall", "mixer", SetFader(channel=1, db=-20.0), actor="test")
        await wait_until(lambda: receiver.device.state["rf"][2].level_dbm < -95 and
                         not receiver.device.state["transmitters"][3].present and
                         proj.device.state.get("power") is Power.ON, within=5, what="the room after the meeting")

        async with httpx.AsyncClient(base_url=controller.url, timeout=30) as client:
            with controller.bus.subscribe() as events:
                response = await client.post("/api/rooms/hall/post-meeting", headers=AUTH,
                                             json={"technician": "Li Wei"})
                assert response.status_code == 202, response.text
                record_id = response.json()["id"]
                switch_off = await next_event(events, prompt_asked("switch_off"))
                assert switch_off.data["message"]["en"] == "Switch off: Mic 1 — Chair"
                sim.switch_transmitter(1, False)  # the technician switches it off
                checks = {}
                while len(checks) < 3:
                    asked = await next_event(events, prompt_asked("damage_check"))
                    checks[asked.data["mic"]] = asked.data["id"]
            assert set(checks) == {"Mic 1 — Chair", "Mic 3 — Floor", "Mic 4 — Spare"}  # not the missing one
            answers = {"Mic 1 — Chair": {"confirmed": True},
                       "Mic 3 — Floor": {"confirmed": False, "note": "grille dented"},
                       "Mic 4 — Spare": {"confirmed": True}}
            for mic, answer in answers.items():
                reply = await client.post(f"/api/prompts/{checks[mic]}", headers=AUTH, json=answer)
                assert reply.status_code == 200, reply.text
            record = await controller.post_meeting.wait(record_id, timeout=20)
            shown = (await client.get(f"/api/post-meeting/{record_id}")).json()
            log_id = record["steps"]["session_log"]["log"]
            signed = (await client.get(f"/api/session-logs/{log_id}")).json()
    finally:
        await controller.stop()

    assert shown == record and record["state"] == "done"
    inventory = record["steps"]["inventory"]
    assert inventory["missing"] == ["Mic 2 — Guest"]
    assert inventory["state"] == "incomplete" and inventory["not_switched_off"] == []
    assert {i["mic"]: i["status"] for i in inventory["mics"]} == {
        "Mic 1 — Chair": "switched_off", "Mic 2 — Guest": "missing", "Mic 3 — Floor": "off", "Mic 4 — Spare": "off"}
    assert inventory["spares"] == [{"mic": "Mic 4 — Spare", "status": "off"}]
    damage = {c["mic"]: (c["result"], c["by"], c["note"]) for c in record["steps"]["damage_checks"]["mics"]}
    assert damage == {"Mic 1 — Chair": ("undamaged", "av tech", None),
                      "Mic 3 — Floor": ("damaged_or_missing", "av tech", "grille dented"),
                      "Mic 4 — Spare": ("undamaged", "av tech", None)}
    assert record["steps"]["baseline"]["state"] == "done"
    assert record["steps"]["baseline"]["actions"] == [{"what": "recall snapshot 1 on mixer", "ok": True}]
    assert abs(mixer.device.state["faders"][1]) < 0.1  # the chair's fader is back at the baseline's 0 dB
    assert record["steps"]["shutdown"] == {**record["steps"]["shutdown"], "state": "done"}
    assert proj.device.state["power"] in (Power.COOLING_DOWN, Power.OFF)

    log = record["steps"]["session_log"]
    assert log["state"] == "signed" and log["signed_by"] == "Li Wei"
    assert signed["verified"] is True and signed["signed_by"] == "Li Wei" and signed["signed_at"] == log["signed_at"]
    assert signed["sha256"] == hashlib.sha256(signed["content"].encode()).hexdigest() == log["sha256"]
    content = json.loads(signed["content"])
    assert canonical(content) == signed["content"]
    assert content["routine"]["inventory"]["missing"] == ["Mic 2 — Guest"]
    assert not verify_session_log({**signed, "content": signed["content"].replace("Guest", "Gast")})


async def test_a_post_meeting_the_schedule_started_records_unanswered_checks_and_waits_for_a_signature(tmp_path):
    # A meeting that ends a simulated minute from now; two simulated minutes pass every real second.
    # Every transmitter is already off and back in its case.
    start, end = around_now(30, 1)
    bookings = f'    bookings: [{{id: board, title: Board, start: "{start}", end: "{end}"}}]'
    controller = await started(room_text(tmp_path, speed=120, damage_timeout=0.3, bookings=bookings, scenes="",
                                         transmitters=", transmitters: []"))
    try:
        record = await finished_post_meeting(controller, "hall")
        record_id = record["id"]
        assert record["actor"] == "scheduler" and record["booking"] == "board" and record["technician"] is None
        assert record["session"]["from"] is not None  # monitoring ran during the meeting...
        assert controller.monitoring.get("hall") is None  # ...and stopped when it ended
        checks = record["steps"]["damage_checks"]
        assert checks["state"] == "not_all_confirmed"
        assert checks["not_confirmed"] == ["Mic 1 — Chair", "Mic 2 — Guest", "Mic 3 — Floor", "Mic 4 — Spare"]
        assert record["steps"]["inventory"]["state"] == "complete"
        shutdown = record["steps"]["shutdown"]  # no shutdown scene in this room: everything with power is off
        assert shutdown["detail"] == "no scene 'shutdown': every device switched off"
        assert [a["what"] for a in shutdown["actions"]] == ["proj: power off"]
        assert record["steps"]["session_log"]["state"] == "not_signed"

        async with httpx.AsyncClient(base_url=controller.url, timeout=30) as client:
            signed = await client.post(f"/api/post-meeting/{record_id}/sign", headers=AUTH, json={})
            assert signed.status_code == 200, signed.text
            log = signed.json()["steps"]["session_log"]
            assert log["state"] == "signed" and log["signed_by"] == "av tech"
            twice = await client.post(f"/api/post-meeting/{record_id}/sign", headers=AUTH, json={})
            assert twice.status_code == 409
            stored = (await client.get(f"/api/session-logs/{log['log']}")).json()
        assert stored["verified"] and json.loads(stored["content"])["session"]["booking"] == "board"
    finally:
        await controller.stop()


async def finished_post_meeting(controller, room: str) -> dict:
    """The room's first finished post-meeting record, from the store (told of it by the bus)."""
    with controller.bus.subscribe() as events:
        while True:
            done = [r for r in await controller.routine_records.post_meetings(room=room) if r["finished_at"]]
            if done:
                return done[-1]
            await next_event(events, lambda e: e.kind == "post_meeting" and e.data["event"] == "finished", within=20)


async def test_cli_post_meeting_records_what_nobody_answered(tmp_path):
    config = tmp_path / "site.yaml"
    config.write_text(room_text(tmp_path, damage_timeout=0.3).replace("switch_off_within: 20", "switch_off_within: 0.5"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli", "post-meeting", "hall", "--technician", "Li Wei", "--config",
        str(config), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert process.returncode == 1, err.decode()
    assert "not switched off: Mic 1 — Chair, Mic 2 — Guest, Mic 3 — Floor, Mic 4 — Spare" in text
    assert "damage check Mic 1 — Chair: not_confirmed" in text
    assert "session log: signed by Li Wei" in text


def test_a_baseline_scene_the_room_does_not_have_is_a_config_error(tmp_path):
    text = room_text(tmp_path).replace("damage_check_timeout: 20}", "damage_check_timeout: 20, baseline_scene: tidy}")
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert "post_meeting.baseline_scene: no scene 'tidy' in room hall" in error.value.problems[0].message


async def test_cli_post_meeting_on_a_terminal_asks_a_running_controller_and_answers_its_damage_checks(tmp_path):
    """`roomctl post-meeting --url` with a pseudo-terminal as its input: each damage check
    comes to the terminal; Enter confirms it; the record comes back signed."""
    import os
    import pty

    config = room_text(tmp_path, damage_timeout=30).replace("switch_off_within: 20", "switch_off_within: 0.5")
    controller = await started(config)
    try:
        main, terminal = pty.openpty()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controller.cli", "post-meeting", "hall", "--technician", "Li Wei", "--url",
            controller.url, "--token", TOKEN, stdin=terminal, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        os.close(terminal)
        out = b""
        try:
            answered = 0
            while chunk := await asyncio.wait_for(process.stdout.read(256), 30):  # until the CLI ends
                out += chunk
                while out.count(b">>>") > answered:  # every question it asks: Enter, done
                    os.write(main, b"\n")
                    answered += 1
            _, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            os.close(main)
        text = out.decode()
        assert process.returncode == 1, (text, err.decode())  # the transmitters were left on: inventory incomplete
        for mic in ("Mic 1 — Chair", "Mic 2 — Guest", "Mic 3 — Floor", "Mic 4 — Spare"):
            assert f"damage check {mic}: undamaged" in text, text
        assert "session log: signed by Li Wei" in text
    finally:
        await controller.stop()
