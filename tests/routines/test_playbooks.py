"""Fault playbooks (预案) against simulated projectors, mics and a mixer: remedies first, then
the technician, then the project office with an alternate room."""

import asyncio
import sys
import textwrap
import time

import httpx
import pytest

from controller.app import Controller
from controller.config import ConfigError, parse_config
from controller.fault_kinds import KINDS, FaultScope
from drivers.capabilities import Power, SelectInput, SetPower
from drivers.status import Status
from helpers import wait_for_status, wait_until
from routine_helpers import AlertListener, ProjectOffice, around_now, next_event

TOKEN = "playbook-technician-token-0123"
KIOSK_TOKEN = "playbook-kiosk-token-0123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

PROJECTOR = ("driver: pjlink, simulate: true, timeout: 0.4, poll_interval: 0.2, "
             "simulator: {warmup: 0.3, cooldown: 0.3}")

SITE = """\
site: test
store: {store}
mqtt: {{embedded: true}}
api: {{port: 0, tokens: [{{name: av tech, token: {token}, role: technician}},
                         {{name: desk, token: {kiosk}, role: kiosk}}]}}
rooms:
  - id: hall
    name: Hall
    bookings:
      - {{id: board, title: Board meeting, start: "{start}", end: "{end}", required_capabilities: [input]}}
    playbooks:
      confirm_timeout: 0.5
      webhook: {webhook}
      fallback_inputs: {{proj: digital1}}
      kinds:
        device-offline:
          title: Device offline
          steps:
            - {{remedy: retry, within: 0.3}}
            - {{remedy: reconnect, within: 6}}
            - {{confirm: "Check the projector's network cable"}}
    devices:
      - {{id: proj, name: Main projector, {projector}}}
  - id: annex
    name: Annex
    devices:
      - {{id: display, name: Annex display, {projector}}}
  - id: busy
    name: Busy room
    bookings:
      - {{id: training, title: Training, start: "{start}", end: "{end}"}}
    devices:
      - {{id: display, name: Busy display, {projector}}}
  - id: untested
    name: Never tested
    devices:
      - {{id: display, name: Untested display, {projector}}}
"""


def site_text(tmp_path, webhook: str = "http://127.0.0.1:9/unused") -> str:
    start, end = around_now(10, 50)
    return SITE.format(store=tmp_path / "s.sqlite3", token=TOKEN, kiosk=KIOSK_TOKEN, start=start, end=end,
                       webhook=webhook, projector=PROJECTOR)


@pytest.fixture
async def office():
    office = await ProjectOffice().start()
    yield office
    await office.stop()


@pytest.fixture
async def controller(tmp_path, office):
    controller = Controller(parse_config(site_text(tmp_path, office.url)))
    await controller.start()
    assert not await controller.wait_until_online(10)
    yield controller
    await controller.stop()


def simulator(controller, place: str):
    return controller.placed_simulators[place]


async def test_a_projector_that_stops_answering_comes_back_after_the_reconnect_step(controller):
    proj = controller.site.device("hall", "proj")
    # Rebooting: it drops the connection and answers nothing for 2 s — longer than the retry step waits.
    simulator(controller, "hall/proj").inject("reboot", reboot_time=2.0)
    await wait_for_status(proj.supervisor, Status.OFFLINE, within=3)
    with controller.bus.subscribe() as events:
        run = await controller.playbooks.run("hall", "device-offline", actor="av tech")
        finished = await next_event(events, lambda e: e.kind == "playbook" and e.data["event"] == "finished")
    assert run.outcome == "resolved", run
    assert run.device == "proj" and run.subject == "Main projector"  # found by roomctl: the device that is offline
    assert [(s.name, s.outcome) for s in run.steps] == [
        ("observe", "present"), ("retry", "failed"), ("reconnect", "resolved")]
    assert all(s.started_at <= s.finished_at for s in run.steps)
    assert proj.supervisor.status is Status.ONLINE
    assert finished.data == {"run": run.id, "kind": "device-offline", "event": "finished", "outcome": "resolved"}
    stored = await controller.routine_records.run(run.id)  # stored before it was told
    assert stored["outcome"] == "resolved" and len(stored["steps"]) == 3


async def test_lamp_failure_escalates_with_an_alternate_room_on_mqtt_and_the_webhook(controller, office):
    for room in ("annex", "busy"):  # both pass their self-test; only the annex is free now
        assert (await controller.selftest.run(room)).ready
    listener = await AlertListener(controller, "hall").start()
    try:
        simulator(controller, "hall/proj").inject("lamp_failure")
        proj = controller.site.device("hall", "proj")
        await wait_for_status(proj.supervisor, Status.FAULT, within=3)
        with controller.bus.subscribe() as events:
            run = await controller.playbooks.run("hall", "projector-lamp", actor="av tech")
            bus_alert = await next_event(events, lambda e: e.kind == "alert" and e.data["source"] == "playbook")
        mqtt_alert = await listener.next(kind="projector-lamp", source="playbook")
    finally:
        await listener.stop()

    assert run.outcome == "escalated"
    steps = [(s.name, s.outcome) for s in run.steps]
    assert steps == [("observe", "present"), ("retry", "failed"), ("power_cycle", "failed"),
                     ("confirm", "unanswered"), ("escalate", "sent")]
    assert "refused" in run.steps[2].detail or "Rejected" in run.steps[2].detail  # the lamp will not light
    assert run.steps[3].what["en"] == "Replace the lamp of Main projector, or set up the spare projector."

    alternate = run.escalation["alternate_room"]
    assert alternate["room"] == "annex" and alternate["booking"] == "board" and alternate["needs"] == ["input"]
    reasons = {c["room"]: c.get("reason") for c in alternate["candidates"]}
    assert reasons == {"annex": None, "busy": "booked at that time", "untested": "no self-test on record"}

    method, headers, payload = await office.next()
    assert method == "POST /hooks/roomctl" and headers["content-type"] == "application/json"
    assert payload["room"] == {"id": "hall", "name": "Hall"}
    assert payload["alternate_room"]["room"] == "annex"
    assert payload["alert"]["kind"] == "projector-lamp"
    assert [s["name"] for s in payload["run"]["steps"]] == ["observe", "retry", "power_cycle", "confirm", "escalate"]
    assert run.escalation["webhook"]["status"] == 200

    for alert in (bus_alert.data, mqtt_alert):
        assert alert["kind"] == alert["playbook"] == "projector-lamp"
        assert alert["source"] == "playbook" and alert["severity"] == "critical"
        assert "Suggested alternate room: Annex (annex)" in alert["message"]["en"]
        assert alert["playbook_url"] == f"/api/playbook-runs/{run.id}"
    stored = {a["id"] for a in await controller.routine_records.alerts(room="hall")}
    assert mqtt_alert["id"] in stored


async def test_a_technician_step_nobody_confirms_escalates_instead_of_hanging(controller):
    simulator(controller, "hall/proj").inject("cover_open")
    proj = controller.site.device("hall", "proj")
    await wait_for_status(proj.supervisor, Status.FAULT, within=3)
    started = time.monotonic()
    run = await controller.playbooks.run("hall", "projector-cover", actor="av tech")
    took = time.monotonic() - started
    assert run.outcome == "escalated"
    confirm = next(s for s in run.steps if s.kind == "confirm")
    assert confirm.outcome == "unanswered" and confirm.detail == "nobody confirmed within 0.5 s"
    assert run.steps[-1].name == "escalate"
    assert took < 3 + 0.5 + 3  # the retry's wait, the confirmation's timeout, and the escalation itself


async def test_a_technician_confirms_over_the_api_and_the_fault_is_gone(controller):
    controller.config.room("hall").playbooks.confirm_timeout = 20  # someone is there this time
    sim = simulator(controller, "hall/proj")
    sim.inject("cover_open")
    proj = controller.site.device("hall", "proj")
    await wait_for_status(proj.supervisor, Status.FAULT, within=3)
    async with httpx.AsyncClient(base_url=controller.url, timeout=30) as client:
        with controller.bus.subscribe() as events:
            response = await client.post("/api/rooms/hall/playbooks/projector-cover", headers=AUTH, json={})
            assert response.status_code == 202, response.text
            run_id = response.json()["id"]
            await next_event(events, lambda e: e.kind == "prompt" and e.data.get("run") == run_id)
        waiting = (await client.get(f"/api/playbook-runs/{run_id}")).json()
        assert waiting["outcome"] == "running" and waiting["waiting_prompt"]
        assert waiting["steps"][-1]["outcome"] == "waiting"
        pending = (await client.get("/api/prompts", params={"room": "hall"})).json()
        assert [p["run"] for p in pending] == [run_id]
        assert pending[0]["message"]["en"] == "Close and latch the lamp cover of Main projector."

        sim.clear_faults("cover_open")  # the technician closes the cover...
        answer = await client.post(f"/api/playbook-runs/{run_id}/confirm", headers=AUTH, json={"note": "latched"})
        assert answer.status_code == 200, answer.text  # ...and says so
        run = await controller.playbooks.wait(run_id, timeout=10)
        again = await client.post(f"/api/playbook-runs/{run_id}/confirm", headers=AUTH, json={})
        assert again.status_code == 409
    assert run.outcome == "resolved"
    assert run.steps[-1].name == "confirm" and run.steps[-1].outcome == "confirmed"
    assert run.steps[-1].answered_by == "av tech" and run.steps[-1].detail == "latched"


async def test_playbook_api_lists_runs_refuses_what_cannot_be_and_guards_its_doors(controller):
    async with httpx.AsyncClient(base_url=controller.url, timeout=30) as client:
        kinds = {p["kind"] for p in (await client.get("/api/rooms/hall/playbooks")).json()}
        assert kinds >= {"device-offline", "projector-lamp", "projector-over-temperature", "projector-cover",
                         "no-input-signal", "mic-battery-low", "mic-transmitter-off", "rf-loss", "interference",
                         "clipping", "climate-not-reaching-target"}
        assert (await client.post("/api/rooms/hall/playbooks/projector-lamp")).status_code == 401
        kiosk = {"Authorization": f"Bearer {KIOSK_TOKEN}"}
        assert (await client.post("/api/rooms/hall/playbooks/projector-lamp", headers=kiosk)).status_code == 403
        unknown = await client.post("/api/rooms/hall/playbooks/volcano", headers=AUTH)
        assert unknown.status_code == 404 and "no playbook 'volcano'" in unknown.json()["message"]
        wrong = await client.post("/api/rooms/hall/playbooks/mic-battery-low", headers=AUTH, json={"device": "proj"})
        assert wrong.status_code == 422 and "no battery capability" in wrong.json()["message"]

        healthy = await client.post("/api/rooms/hall/playbooks/projector-lamp", headers=AUTH, json={"wait": True})
        assert healthy.status_code == 202
        run = healthy.json()
        assert run["outcome"] == "no_fault" and [s["outcome"] for s in run["steps"]] == ["absent"]
        listed = (await client.get("/api/playbook-runs", params={"room": "hall"})).json()
        assert [r["id"] for r in listed] == [run["id"]]
        shown = (await client.get(f"/api/playbook-runs/{run['id']}")).json()
        assert shown["kind"] == "projector-lamp" and shown["waiting_prompt"] is None
        assert (await client.get("/api/playbook-runs/nope")).status_code == 404


async def test_no_input_signal_switches_to_the_fallback_input(controller):
    proj = controller.site.device("hall", "proj")
    await controller.site.execute("hall", "proj", SetPower(on=True), actor="test")
    await wait_until(lambda: proj.device.state.get("power") is Power.ON, within=5, what="projector on")
    # Only digital1 has a source plugged in on the simulator; another input shows no signal.
    empty = next(name for name in proj.device.available_inputs() if name != "digital1")
    await controller.site.execute("hall", "proj", SelectInput(input=empty), actor="test")
    await wait_until(lambda: proj.device.state.get("input_signal") is False, within=5, what="no signal seen")
    run = await controller.playbooks.run("hall", "no-input-signal", actor="av tech")
    switch = next(s for s in run.steps if s.name == "switch_input")
    assert run.steps[0].outcome == "present"  # PJLink class 2 says so itself (IRES)
    assert switch.outcome == "resolved" and switch.data["input"] == "digital1"
    assert proj.device.state["input"] == "digital1" and proj.device.state["input_signal"] is True
    assert run.outcome == "resolved"


AUDIO_ROOM = """\
site: audio
store: {store}
rooms:
  - id: hall
    audio:
      mics:
        - {{name: Chair, receiver: mics, channel: 1, mixer: mixer, input: 1}}
        - {{name: Spare, receiver: mics, channel: 2, mixer: mixer, input: 2, spare: true}}
    playbooks:
      confirm_timeout: 20
      kinds:  # the built-in steps, with a quicker retry
{quick}
    devices:
      - {{id: mics, driver: shure, simulate: true, timeout: 0.5, options: {{metering: false}},
         simulator: {{model: ULXD4D}}}}
      - {{id: mixer, driver: xair, simulate: true, timeout: 0.5, options: {{channels: 4}},
         simulator: {{inputs: {{1: mics/1, 2: mics/2}}}}}}
"""


QUICK = "\n".join(
    "        " + kind + ": {title: " + kind + ", steps: [{remedy: retry, within: 0.5}, {remedy: spare_mic}, "
    "{confirm: \"Hand {spare} to the speaker at {mic}\"}]}"
    for kind in ("mic-transmitter-off", "rf-loss", "interference"))


def audio_room(tmp_path) -> str:
    return AUDIO_ROOM.format(store=tmp_path / "a.sqlite3", quick=QUICK)


async def test_a_flat_mic_moves_its_speaker_to_the_spare_channel(tmp_path):
    controller = Controller(parse_config(audio_room(tmp_path)), serve_api=False)
    await controller.start()
    try:
        assert not await controller.wait_until_online(10)
        mixer = controller.site.device("hall", "mixer")
        await wait_until(lambda: 1 in mixer.device.state.get("faders", {}), within=5, what="mixer read")
        from drivers.capabilities import SetChannelMute, SetFader
        await controller.site.execute("hall", "mixer", SetFader(channel=1, db=-5.0), actor="test")
        await controller.site.execute("hall", "mixer", SetChannelMute(channel=2, muted=True), actor="test")
        receiver = controller.site.device("hall", "mics")
        simulator(controller, "hall/mics").inject("battery_flat", channel=1)
        await wait_until(lambda: receiver.device.state["batteries"][1].is_flat, within=5, what="battery flat")

        with controller.bus.subscribe() as events:
            run = await controller.playbooks.start("hall", "mic-battery-low", actor="av tech")
            prompt = await next_event(events, lambda e: e.kind == "prompt" and e.data.get("run") == run.id)
        assert prompt.data["message"]["en"] == "Hand Mic 2 — Spare to the speaker at Mic 1 — Chair, or fit a " \
                                               "charged battery in Mic 1 — Chair."
        assert controller.playbooks.confirm(run.id, confirmed=True, by="av tech")
        run = await controller.playbooks.wait(run.id, timeout=10)
    finally:
        await controller.stop()
    assert run.subject == "Mic 1 — Chair" and run.channel == 1
    assert run.outcome == "mitigated"
    spare = next(s for s in run.steps if s.name == "spare_mic")
    assert spare.outcome == "mitigated" and spare.data["spare_label"] == "Mic 2 — Spare"
    assert mixer.device.state["mutes"][1] is True and mixer.device.state["mutes"][2] is False
    assert abs(mixer.device.state["faders"][2] - -5.0) < 0.1  # the speaker's level moved with them


@pytest.mark.parametrize("fault, kind", [("transmitter_off", "mic-transmitter-off"), ("rf_loss", "rf-loss"),
                                         ("interference", "interference")])
async def test_mic_faults_retry_then_hand_over_the_spare(tmp_path, fault, kind):
    controller = Controller(parse_config(audio_room(tmp_path)), serve_api=False)
    await controller.start()
    try:
        assert not await controller.wait_until_online(10)
        receiver = controller.site.device("hall", "mics")
        simulator(controller, "hall/mics").inject(fault, channel=1)
        # RF and audio levels arrive with the receiver's metering (every second at the vendor's floor).
        await wait_until(lambda: KINDS[kind].detect(FaultScope(receiver, 1)), within=15, what=fault)
        with controller.bus.subscribe() as events:
            run = await controller.playbooks.start("hall", kind, actor="av tech")
            prompt = await next_event(events, lambda e: e.kind == "prompt" and e.data.get("run") == run.id)
        assert prompt.data["message"]["en"] == "Hand Mic 2 — Spare to the speaker at Mic 1 — Chair"
        controller.playbooks.confirm(run.id, confirmed=True, by="av tech")
        run = await controller.playbooks.wait(run.id, timeout=10)
    finally:
        await controller.stop()
    assert run.subject == "Mic 1 — Chair"
    assert [(s.name, s.outcome) for s in run.steps] == [
        ("observe", "present"), ("retry", "failed"), ("spare_mic", "mitigated"), ("confirm", "confirmed")]
    assert run.outcome == "mitigated"


def test_a_playbook_naming_a_missing_device_or_capability_is_a_config_error(tmp_path):
    bad = SITE_WITH_PLAYBOOK.format(store=tmp_path / "x.sqlite3", steps="[{remedy: power_cycle, device: ghost}]")
    with pytest.raises(ConfigError) as error:
        parse_config(bad)
    assert str(error.value.problems[0]) == \
        "rooms[0]: playbooks.kinds['projector-lamp'].steps[0]: no device 'ghost' in room hall (line 4)"
    bad = SITE_WITH_PLAYBOOK.format(store=tmp_path / "x.sqlite3", steps="[{remedy: setpoint, device: proj}]")
    with pytest.raises(ConfigError) as error:
        parse_config(bad)
    assert "playbooks.kinds['projector-lamp'].steps[0]: proj (pjlink) has no setpoint capability" in \
        error.value.problems[0].message
    bad = SITE_WITH_PLAYBOOK.format(store=tmp_path / "x.sqlite3", steps="[{confirm: ok, timeout: -1}]")
    with pytest.raises(ConfigError) as error:
        parse_config(bad)
    assert error.value.problems[0].place == "rooms[0].playbooks.kinds['projector-lamp'].steps[0].timeout"


SITE_WITH_PLAYBOOK = """\
site: test
store: {store}
rooms:
  - id: hall
    playbooks:
      kinds:
        projector-lamp: {{title: Lamp, steps: {steps}}}
    devices:
      - {{id: proj, driver: pjlink, host: 127.0.0.1}}
"""


async def test_cli_runs_a_playbook_and_escalates_when_nobody_is_at_the_terminal(tmp_path):
    config = tmp_path / "site.yaml"
    config.write_text(textwrap.dedent(f"""\
        site: test
        store: {tmp_path / 'c.sqlite3'}
        rooms:
          - id: hall
            playbooks:
              confirm_timeout: 0.3
              kinds:
                device-offline:
                  title: Device offline
                  steps: [{{remedy: retry, within: 0.2}}, {{remedy: reconnect, within: 0.5}},
                          {{confirm: "Check its cable"}}]
            devices:
              - {{id: gone, name: Old projector, driver: pjlink, host: 127.0.0.1, port: 9, timeout: 0.2}}
        """))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli", "playbook", "run", "hall", "device-offline", "--config", str(config),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1, err.decode()
    text = out.decode()
    assert "Device offline — Old projector (hall): ESCALATED" in text
    assert "confirm  Check its cable: unanswered" in text

    broken = tmp_path / "broken.yaml"
    broken.write_text(config.read_text().replace("reconnect, within: 0.5", "power_cycle, device: ghost"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli", "playbook", "run", "hall", "device-offline", "--config", str(broken),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "playbooks.kinds['device-offline'].steps[1]: no device 'ghost' in room hall" in err.decode()


async def test_cli_asks_a_running_controller_and_shows_its_runs(controller):
    simulator(controller, "hall/proj").inject("cover_open")
    await wait_for_status(controller.site.device("hall", "proj").supervisor, Status.FAULT, within=3)

    async def roomctl(*args):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controller.cli", *args, "--url", controller.url,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode, out.decode(), err.decode()

    code, out, err = await roomctl("playbook", "run", "hall", "projector-cover", "--token", TOKEN, "--lang", "zh")
    assert code == 1, err
    assert out.startswith("投影机灯罩未关 — Main projector (hall): ESCALATED")
    assert "关好并扣紧Main projector的灯罩。: unanswered" in out
    run_id = out.split("[run ")[1].split("]")[0]
    code, out, _ = await roomctl("playbook", "list", "hall")
    assert code == 0 and run_id in out and "projector-cover" in out and "escalated" in out
    code, out, _ = await roomctl("playbook", "show", run_id, "--json")
    assert code == 1 and '"outcome": "escalated"' in out
    code, _, err = await roomctl("playbook", "run", "hall", "volcano", "--token", TOKEN)
    assert code == 2 and "no playbook 'volcano'" in err


async def test_cli_on_a_terminal_answers_a_running_controllers_step_and_the_run_resolves(tmp_path, office):
    """`roomctl playbook run --url` at a terminal (a pseudo-terminal here): the technician
    closes the cover, presses Enter at the prompt, and the controller's run resolves."""
    import os
    import pty

    text = site_text(tmp_path, office.url).replace("confirm_timeout: 0.5", "confirm_timeout: 30")
    controller = Controller(parse_config(text))
    await controller.start()
    try:
        assert not await controller.wait_until_online(10)
        simulator(controller, "hall/proj").inject("cover_open")
        await wait_for_status(controller.site.device("hall", "proj").supervisor, Status.FAULT, within=3)
        main, terminal = pty.openpty()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controller.cli", "playbook", "run", "hall", "projector-cover", "--url",
            controller.url, "--token", TOKEN, stdin=terminal, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        os.close(terminal)
        try:
            out = b""
            while b">>>" not in out:  # the step's question, printed when the CLI finds the prompt
                chunk = await asyncio.wait_for(process.stdout.read(256), 30)
                assert chunk, f"the CLI ended before asking: {out!r}"
                out += chunk
            assert b"Main projector" in out
            simulator(controller, "hall/proj").clear_faults("cover_open")  # the technician closes the cover
            os.write(main, b"\n")  # ... and presses Enter: done
            rest, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            os.close(main)
        text = (out + rest).decode()
        assert process.returncode == 0, (text, err.decode())
        assert "Projector lamp cover open — Main projector (hall): RESOLVED" in text
        assert "(by " in text  # the confirmation names who answered
    finally:
        await controller.stop()
