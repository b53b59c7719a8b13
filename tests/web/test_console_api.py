"""The console's API: rooms at a glance, one room in full, and the self-test run from the
page with its speak-test prompts answered over HTTP — on the simulated venue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx

from helpers import wait_until
from sites import WITHIN, auth, hall_yaml, running, sim

TECH = auth("technician")


def states(glances: list[dict]) -> dict[str, str]:
    return {g["id"]: g["state"] for g in glances}


async def next_event(events, predicate, within: float = WITHIN):
    async with asyncio.timeout(within):
        while True:
            event = await events.get()
            if predicate(event):
                return event


async def finished_report(client, venue, events, run_id: str) -> dict:
    await next_event(events, lambda e: e.kind == "selftest" and e.data.get("event") == "finished"
                     and e.data["id"] == run_id, within=60)
    return (await client.get("/api/rooms/hall/selftests?limit=1", headers=TECH)).json()[0]


async def test_the_technician_speaks_when_the_console_asks_and_the_room_becomes_ready(small_venue, small_client):
    client, venue = small_client, small_venue
    assert states((await client.get("/api/console/rooms", headers=TECH)).json()) == {"hall": "warnings",
                                                                                       "annex": "warnings"}
    mics = sim(venue, "hall/mics")
    with venue.bus.subscribe() as events:
        started = await client.post("/api/rooms/hall/selftest/runs", json={"talker": "technician"}, headers=TECH)
        assert started.status_code == 202, started.text
        run = started.json()
        assert run["planned"] > 5 and run["talker"] == "technician"
        again = await client.post("/api/rooms/hall/selftest/runs", json={}, headers=TECH)
        assert again.status_code == 409
        running_now = (await client.get("/api/selftest-runs", headers=TECH)).json()
        assert [r["id"] for r in running_now] == [run["id"]]
        asked = await next_event(events, lambda e: e.kind == "prompt" and e.data.get("event") == "asked")
        assert asked.data["message"]["en"] == "Speak into Mic 1 — Chair" and asked.data["channel"] == 1
        pending = (await client.get("/api/console/rooms/hall", headers=TECH)).json()["prompts"]
        assert [p["id"] for p in pending] == [asked.data["id"]]
        mics.talk(1)  # the technician speaks into the Chair mic
        withdrawn = await next_event(events, lambda e: e.kind == "prompt" and e.data.get("id") == asked.data["id"])
        mics.silence(1)
        assert withdrawn.data["event"] == "withdrawn"  # heard: the question leaves the page by itself
        report = await finished_report(client, venue, events, run["id"])
    speak = [r for r in report["results"] if r["check"] == "speak_test"]
    assert [(r["subject"], r["verdict"]) for r in speak] == [("Mic 1 — Chair", "pass")]
    assert report["ready"] is True and report["attended"] is True
    glance = next(g for g in (await client.get("/api/console/rooms", headers=TECH)).json() if g["id"] == "hall")
    assert glance["state"] == "ready" and glance["last_selftest"]["id"] == run["id"]


async def test_a_speak_prompt_skipped_on_the_console_is_not_done_never_passed(small_venue, small_client):
    client, venue = small_client, small_venue
    with venue.bus.subscribe() as events:
        run = (await client.post("/api/rooms/hall/selftest/runs", json={}, headers=TECH)).json()
        asked = await next_event(events, lambda e: e.kind == "prompt" and e.data.get("event") == "asked")
        answer = await client.post(f"/api/prompts/{asked.data['id']}", json={"confirmed": False}, headers=TECH)
        assert answer.status_code == 200 and answer.json()["answered_by"] == "av tech"
        report = await finished_report(client, venue, events, run["id"])
    speak = next(r for r in report["results"] if r["check"] == "speak_test")
    assert speak["verdict"] == "not_done"


async def test_a_flat_battery_fails_the_self_test_with_its_playbook_and_the_room_is_not_ready(small_venue, small_client):
    client, venue = small_client, small_venue
    receiver = venue.site.device("hall", "mics").device
    sim(venue, "hall/mics").inject("battery_flat", channel=1)
    await wait_until(lambda: receiver.state["batteries"][1].is_flat, within=WITHIN, what="battery flat")
    with venue.bus.subscribe() as events:
        run = (await client.post("/api/rooms/hall/selftest/runs", json={"talker": "simulated"}, headers=TECH)).json()
        report = await finished_report(client, venue, events, run["id"])
    battery = next(r for r in report["results"] if r["check"] == "mic_battery" and r["verdict"] == "fail")
    assert battery["subject"] == "Mic 1 — Chair" and battery["playbook"] == "mic-battery-low"
    detail = (await client.get("/api/console/rooms/hall", headers=TECH)).json()
    assert detail["glance"]["state"] == "not_ready" and detail["simulated_talker"] is True
    assert "mic-battery-low" in {p["kind"] for p in detail["playbooks"]}
    assert [m["name"] for m in detail["mics"]] == ["Chair", "Spare"]
    assert {d["id"]: d["status"] for d in detail["devices"]}["mics"] in ("fault", "online")
    assert detail["selftests"][0]["id"] == run["id"] and detail["selftests"][0]["counts"]["fail"] >= 1


async def test_rooms_at_a_glance_say_in_a_meeting_and_offline(tmp_path):
    now = datetime.now(timezone.utc)
    booking = (f"    bookings:\n      - {{id: board, title: Board meeting, start: '{(now - timedelta(minutes=5)).isoformat()}', "
               f"end: '{(now + timedelta(hours=1)).isoformat()}'}}\n")
    async with running(hall_yaml(tmp_path, mqtt=False, annex_extra=booking)) as venue, \
            httpx.AsyncClient(base_url=venue.url, timeout=30) as client:
        glance = {g["id"]: g for g in (await client.get("/api/console/rooms", headers=TECH)).json()}
        assert glance["annex"]["state"] == "in_meeting" and glance["annex"]["meeting"]["title"] == "Board meeting"
        display = venue.site.device("annex", "display")
        sim(venue, "annex/display").inject("disconnect")
        await wait_until(lambda: display.supervisor.status.value == "offline", within=WITHIN, what="display offline")
        glance = {g["id"]: g for g in (await client.get("/api/console/rooms", headers=TECH)).json()}
        assert glance["annex"]["state"] == "offline" and glance["annex"]["devices_down"] == ["display (offline)"]
        assert glance["annex"]["reasons"][0] == {"en": "no device answers", "zh": "所有设备均无响应"}
