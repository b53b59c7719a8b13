"""The tablet's API on the simulated hall: each control reaches the simulator on its wire,
and nothing outside the room's safe ranges is sent."""

from __future__ import annotations

import asyncio

import pytest

from drivers.capabilities import SetPower
from helpers import wait_until
from sites import WITHIN, auth, sim

CONTROLS = "/api/rooms/hall/tablet/controls"


async def control(client, body: dict, role: str = "tablet"):
    return await client.post(CONTROLS, json=body, headers=auth(role))


async def test_the_tablet_shows_its_scenes_ranges_and_the_rooms_devices(client):
    view = (await client.get("/api/rooms/hall/tablet", headers=auth("tablet"))).json()
    assert [(s["id"], s["name"], s["steps"]) for s in view["scenes"]] == [("presentation", "Presentation", 5),
                                                                        ("shutdown", "Shutdown", 2)]
    assert (view["volume"]["min_db"], view["volume"]["max_db"], view["volume"]["device"]) == (-30, -5, "mixer")
    assert [m["name"] for m in view["mics"]] == ["Chair"] and view["mics"][0]["on"] is True
    assert [o["label"] for o in view["inputs"]["options"]] == ["Laptop", "Camera"]
    assert [light["device"] for light in view["lights"]] == ["light"]
    assert (view["climate"]["min_c"], view["climate"]["max_c"]) == (21, 25)
    assert view["status"] == "ok" and {d["id"] for d in view["devices"]} == {"proj", "mics", "mixer", "light", "thermostat"}


async def test_master_volume_moves_the_mixers_main_fader_within_the_rooms_range(client, venue):
    mixer = sim(venue, "hall/mixer")
    answer = await control(client, {"control": "volume", "db": -12})
    assert answer.status_code == 200, answer.text
    assert answer.json()["command"] == {"type": "fader", "channel": "main", "db": -12.0}
    state = venue.site.device("hall", "mixer").device.state
    await wait_until(lambda: abs(state["faders"]["main"] - -12) < 0.5, within=WITHIN, what="main fader at -12 dB")
    before = mixer.param("/lr/mix/fader")
    for db in (-3, -40, 10):  # louder than the hall may go, quieter than the range
        refused = await control(client, {"control": "volume", "db": db})
        assert refused.status_code == 422 and refused.json()["error"] == "OutOfRange"
        assert refused.json()["field"] == "db" and "-30…-5 dB" in refused.json()["message"]
    assert mixer.param("/lr/mix/fader") == before  # nothing reached the mixer
    muted = await control(client, {"control": "master_mute", "muted": True})
    assert muted.status_code == 200
    await wait_until(lambda: mixer.param("/lr/mix/on") == 0, within=WITHIN, what="main bus muted on the mixer")


async def test_a_mic_is_muted_by_its_name_at_its_mixer_input(client, venue):
    mixer = sim(venue, "hall/mixer")
    answer = await control(client, {"control": "mic_mute", "mic": "Chair", "muted": True})
    assert answer.status_code == 200 and answer.json()["command"] == {"type": "channel_mute", "channel": 1, "muted": True}
    await wait_until(lambda: mixer.param("/ch/01/mix/on") == 0, within=WITHIN, what="input 1 muted on the mixer")
    view = (await client.get("/api/rooms/hall/tablet", headers=auth("tablet"))).json()
    assert view["mics"][0]["muted"] is True
    spare = await control(client, {"control": "mic_mute", "mic": "Spare", "muted": True})  # not on this tablet
    assert spare.status_code == 422 and spare.json() == {"error": "NotOnTablet", "field": "mic",
                                                         "message": "no mic 'Spare' on this room's tablet"}


async def test_setpoint_light_and_input_reach_their_devices(client, venue):
    thermostat = sim(venue, "hall/thermostat").devices["hall/thermostat"]
    light = sim(venue, "hall/light").devices["hall/ceiling"]
    assert (await control(client, {"control": "setpoint", "celsius": 26})).status_code == 422  # above 21–25
    assert (await control(client, {"control": "setpoint", "celsius": 23.5})).status_code == 200
    await wait_until(lambda: 23.5 in (thermostat.heating, thermostat.cooling), within=WITHIN, what="setpoint 23.5")
    assert (await control(client, {"control": "light", "device": "light", "percent": 60})).status_code == 200
    await wait_until(lambda: light.on and abs(light.brightness - 152) <= 2, within=WITHIN, what="light at 60 %")
    refused = await control(client, {"control": "light", "device": "proj", "percent": 60})
    assert refused.status_code == 422 and refused.json()["field"] == "device"
    await venue.site.execute("hall", "proj", SetPower(on=True), actor="test")
    projector = venue.site.device("hall", "proj").device
    await wait_until(lambda: projector.state.get("power").value == "on", within=WITHIN, what="projector on")
    assert (await control(client, {"control": "input", "input": "digital2"})).status_code == 200
    await wait_until(lambda: projector.state.get("input") == "digital2", within=WITHIN, what="input digital2")
    assert (await control(client, {"control": "input", "input": "rgb1"})).status_code == 422  # not offered


@pytest.mark.parametrize("body", [
    {"control": "volume"}, {"control": "volume", "db": "loud"}, {"control": "dim", "percent": 5},
    {"control": "light", "device": "light", "percent": 101}, {"control": "input", "input": "HDMI 1; rm"},
    {"control": "mic_mute", "mic": "Chair", "muted": True, "extra": 1}, [],
])
async def test_malformed_controls_are_refused_before_anything_is_sent(client, venue, body):
    answer = await client.post(CONTROLS, json=body, headers=auth("tablet"))
    assert answer.status_code == 422, answer.text


async def test_a_scene_recall_reports_each_step_as_progress(client, venue):
    with venue.bus.subscribe() as events:
        answer = await client.post("/api/rooms/hall/scenes/presentation", headers=auth("tablet"))
        assert answer.status_code == 200 and answer.json()["ok"], answer.text
        seen = []
        async with asyncio.timeout(WITHIN):
            while not seen or seen[-1]["event"] != "finished":
                event = await events.get()
                if event.kind == "scene":
                    seen.append(event.data)
    assert [e["event"] for e in seen] == ["started"] + ["step"] * 5 + ["finished"]
    assert all(e["scene"] == "presentation" for e in seen)
    projector = venue.site.device("hall", "proj").device
    await wait_until(lambda: projector.state.get("input") == "digital1", within=WITHIN, what="input read back")
    view = (await client.get("/api/rooms/hall/tablet", headers=auth("tablet"))).json()
    assert view["inputs"]["current"] == "digital1" and abs(view["volume"]["db"] - -10) < 0.5
