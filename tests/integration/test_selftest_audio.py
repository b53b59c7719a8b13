"""The self-test of a room's sound: mics, batteries, RF, spares, mixer, and the speak test."""

import pytest

from controller.app import Controller
from controller.checks import Verdict
from controller.config import parse_config
from drivers.status import Status
from helpers import wait_until

SITE = """\
site: audio
api: {{port: 0}}
store: {store}
rooms:
  - id: hall
    selftest: {{thresholds: {{speak_within: 4, reconnect_wait: 2}}, meeting_minutes: 90}}
    devices:
      - {{id: mics, name: Receiver, driver: shure, simulate: true, timeout: 0.5, poll_interval: 0.5,
         simulator: {{model: ULXD4Q, names: [Chair, Podium, Floor, Spare]}}}}
      - {{id: mixer, name: Mixer, driver: x32, simulate: true, timeout: 0.5, poll_interval: 0.5,
         options: {{channels: 8}}, simulator: {{inputs: {inputs}}}}}
    audio:
      mixer: mixer
      baseline_scene: 0
      phantom: [6]
      mics:
        - {{name: Chair, receiver: mics, channel: 1, mixer: mixer, input: 1}}
        - {{name: Podium, receiver: mics, channel: 2, mixer: mixer, input: 2}}
        - {{name: Floor, receiver: mics, channel: 3, mixer: mixer, input: 3}}
        - {{name: Spare, receiver: mics, channel: 4, spare: true}}
"""
WIRED = "{1: mics/1, 2: mics/2, 3: mics/3}"


@pytest.fixture
async def room(tmp_path, request):
    inputs = getattr(request, "param", WIRED)
    controller = Controller(parse_config(SITE.format(store=tmp_path / "a.sqlite3", inputs=inputs)))
    await controller.start()
    assert not await controller.wait_until_online(10)
    mics = controller.site.device("hall", "mics").device
    await wait_until(lambda: len(mics.state.get("batteries", {})) == 4, within=5, what="battery readings")
    yield controller
    await controller.stop()


def by_subject(report, check):
    return {r.subject: r for r in report.results if r.check == check}


def receiver_sim(controller):
    return controller.placed_simulators["hall/mics"]


async def test_a_ready_room_passes_with_the_simulated_talker(room):
    report = await room.selftest.run("hall")
    assert report.ready, [(r.subject, r.check, r.verdict, r.problem) for r in report.results if r.verdict != "pass"]
    speak = by_subject(report, "speak_test")
    assert set(speak) == {"Mic 1 — Chair", "Mic 2 — Podium", "Mic 3 — Floor"}
    assert all(r.verdict is Verdict.PASS for r in speak.values())
    assert by_subject(report, "spare_mics")["Mic 4 — Spare"].verdict is Verdict.PASS
    phantom = by_subject(report, "phantom_power")["input 6"]
    assert phantom.verdict is Verdict.PASS and phantom.tried  # it switched +48 V on itself


async def test_unattended_speak_test_is_not_done_never_passed(room):
    room.placed_simulators.clear()  # no simulated technician: nobody is there to speak
    report = await room.selftest.run("hall")
    speak = by_subject(report, "speak_test")
    assert {r.verdict for r in speak.values()} == {Verdict.NOT_DONE}
    assert report.ready  # "not done" is reported, not failed


async def test_mic_switched_off_names_the_mic_and_its_playbook(room):
    receiver_sim(room).inject("transmitter_off", channel=2)
    mics = room.site.device("hall", "mics").device
    await wait_until(lambda: not mics.state["transmitters"][2].present, within=5, what="mic 2 off")
    report = await room.selftest.run("hall")
    off = by_subject(report, "mic_on")["Mic 2 — Podium"]
    assert off.verdict is Verdict.FAIL and off.playbook == "mic-transmitter-off"
    assert off.problem["en"] == "Mic 2 — Podium: transmitter off"
    assert by_subject(report, "mic_on")["Mic 1 — Chair"].verdict is Verdict.PASS
    assert not report.ready


async def test_a_battery_that_will_not_last_the_meeting_fails(room):
    report = await room.selftest.run("hall", meeting_minutes=600)
    battery = by_subject(report, "mic_battery")["Mic 1 — Chair"]
    assert battery.verdict is Verdict.FAIL and battery.playbook == "mic-battery-low"
    assert "the meeting needs 630" in battery.problem["en"]


async def test_interference_and_rf_loss(room):
    receiver_sim(room).inject("interference", channel=1)
    mics = room.site.device("hall", "mics").device
    await wait_until(lambda: mics.state["rf"][1].interference, within=5, what="interference seen")
    report = await room.selftest.run("hall")
    rf = by_subject(report, "mic_rf")
    assert rf["Mic 1 — Chair"].verdict is Verdict.FAIL and rf["Mic 1 — Chair"].playbook == "interference"
    assert rf["Mic 2 — Podium"].verdict is Verdict.PASS


async def test_clipping_mixer_fails(room):
    room.placed_simulators["hall/mixer"].inject("clipping", channel=1)
    mixer = room.site.device("hall", "mixer").device
    await wait_until(lambda: (mixer.state.get("clipping") or {}).get(1), within=5, what="clipping seen")
    report = await room.selftest.run("hall")
    clip = next(r for r in report.results if r.device == "mixer" and r.check == "no_clipping")
    assert clip.verdict is Verdict.FAIL and clip.playbook == "clipping"


@pytest.mark.parametrize("room", ["{1: mics/1, 2: mics/2}"], indirect=True)
async def test_speak_test_finds_a_mic_not_reaching_its_mixer_input(room):
    report = await room.selftest.run("hall")
    floor = by_subject(report, "speak_test")["Mic 3 — Floor"]
    assert floor.verdict is Verdict.FAIL and floor.playbook == "no-input-signal"
    assert "not at mixer input 3" in floor.problem["en"]
