"""During the meeting: the patrol raises alerts (bus, API, MQTT), each linked to its playbook,
and keeps clipping channels in their safe range on its own."""

import textwrap

import httpx
import pytest

from controller.app import Controller
from controller.config import parse_config
from drivers.status import Status
from helpers import wait_for_status, wait_until
from routine_helpers import AlertListener, around_now, next_event

TOKEN = "monitoring-technician-token-01"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def started(text: str) -> Controller:
    controller = Controller(parse_config(text))
    await controller.start()
    assert not await controller.wait_until_online(10)
    return controller


def alert_events(events, **wanted):
    return lambda e: e.kind == "alert" and all(e.data.get(k) == v for k, v in wanted.items())


MIC_ROOM = """\
site: venue
store: {store}
clock: {{speed: 900}}
rooms:
  - id: hall
    monitoring: {{battery_margin_minutes: 10}}
    devices:
      - {{id: mics, name: Receiver, driver: shure, simulate: true, timeout: 0.5, options: {{metering: false}},
         simulator: {{model: ULXD4D, names: [Chair, Guest]}}}}
"""


async def test_a_battery_draining_during_a_meeting_raises_its_alert_in_time(tmp_path):
    # Fifteen simulated minutes pass every real second: a meeting's hour is four seconds.
    controller = await started(MIC_ROOM.format(store=tmp_path / "m.sqlite3"))
    try:
        sim, receiver = controller.placed_simulators["hall/mics"], controller.site.device("hall", "mics")
        # The guest was handed a transmitter whose battery holds half an hour; the meeting has an hour to go.
        sim.switch_transmitter(2, False)
        sim.switch_transmitter(2, True, charge=30 / 480)
        with controller.bus.subscribe() as events:
            await controller.monitoring.start("hall", minutes=60, actor="av tech")
            alert = await next_event(events, alert_events(events, kind="mic-battery-low"), within=10)
            await wait_until(lambda: receiver.device.state["batteries"][2].is_flat, within=10, what="battery flat")
            flat_at = controller.clock.now()
        data = alert.data
        assert data["message"]["en"].startswith("Mic 2 — Guest: battery will not last the meeting — ")
        assert data["data"]["mic"] == "Mic 2 — Guest"
        assert 20 <= data["data"]["minutes_left"] <= 30 and data["data"]["meeting_minutes_left"] >= 50
        assert data["playbook"] == "mic-battery-low"
        assert data["playbook_url"] == "/api/rooms/hall/playbooks/mic-battery-low"
        # In time: raised while the battery still had at least twenty minutes in it.
        assert (flat_at - alert.at).total_seconds() >= 20 * 60
        stored = await controller.routine_records.alerts(room="hall")
        assert [a["channel"] for a in stored if a["kind"] == "mic-battery-low" and a["state"] == "raised"] == [2]
    finally:
        await controller.stop()


MIXER_ROOM = """\
site: venue
store: {store}
mqtt: {{embedded: true}}
rooms:
  - id: hall
    monitoring: {{clip_sustain: 0.3, clip_step_db: 3, clip_step_interval: 0.1, fader_floor_db: -12}}
    devices:
      - {{id: mixer, name: Mixer, driver: x32, simulate: true, timeout: 0.5,
         options: {{channels: 4, meter_interval: 0.05}}}}
"""


async def test_sustained_clipping_is_pulled_down_in_steps_but_never_below_the_floor(tmp_path):
    controller = await started(MIXER_ROOM.format(store=tmp_path / "c.sqlite3"))
    listener = await AlertListener(controller, "hall").start()
    try:
        mixer = controller.site.device("hall", "mixer")
        await wait_until(lambda: 2 in mixer.device.state.get("faders", {}), within=5, what="faders read")
        untouched = mixer.device.state["faders"][1]
        steps = []

        def watching(predicate):
            def seen(event) -> bool:
                if event.kind == "level_limited":
                    steps.append(event.data)
                return predicate(event)
            return seen

        with controller.bus.subscribe() as events:
            await controller.monitoring.start("hall", minutes=60, actor="av tech")
            controller.placed_simulators["hall/mixer"].inject("clipping", channel=2)
            first = await next_event(events, watching(alert_events(events, kind="clipping")))
            at_floor = await next_event(events, watching(lambda e: e.kind == "alert" and e.data["data"].get("at_floor")))
        mqtt_alert = await listener.next(kind="clipping")
    finally:
        await listener.stop()
        await controller.stop()
    moves = [(step["from_db"], step["to_db"]) for step in steps]
    assert {step["channel"] for step in steps} == {2}
    assert [round(to) for _, to in moves] == [-3, -6, -9, -12]  # bounded steps of 3 dB
    assert all(to - before >= -3.0 for before, to in moves)
    assert mixer.device.state["faders"][2] >= -12.0  # never below the floor
    assert mixer.device.state["faders"][1] == untouched  # only the clipping channel moved
    assert first.data["severity"] == "warning" and first.data["channel"] == 2
    assert "Mixer Ch 2" in first.data["message"]["en"] and "(floor -12 dB)" in first.data["message"]["en"]
    assert at_floor.data["severity"] == "critical"
    assert "still clipping at its floor" in at_floor.data["message"]["en"]
    assert mqtt_alert["id"] == first.data["id"] and mqtt_alert["playbook"] == "clipping"


ROOM = """\
site: venue
store: {store}
api: {{port: 0, tokens: [{{name: av tech, token: {token}, role: technician}}]}}
rooms:
  - id: hall
    monitoring: {{rf_sustain: 0.2, temperature_sustain: 0}}
    bookings:
      - {{id: board, title: Board meeting, start: "{start}", end: "{end}"}}
    devices:
      - {{id: proj, name: Main projector, driver: pjlink, simulate: true, timeout: 0.3, poll_interval: 0.2}}
      - {{id: mics, name: Receiver, driver: shure, simulate: true, timeout: 0.5, poll_interval: 0.3,
         options: {{metering: false}}, simulator: {{model: ULXD4D, names: [Chair, Guest]}}}}
      - {{id: thermostat, name: Thermostat, driver: z2m_thermostat, simulate: true,
         options: {{friendly_name: hall/thermostat}}, simulator: {{temperature: 27, outside: 31}}}}
"""


@pytest.fixture
async def meeting(tmp_path):
    start, end = around_now(5, 55)
    controller = await started(ROOM.format(store=tmp_path / "r.sqlite3", token=TOKEN, start=start, end=end))
    yield controller
    await controller.stop()


async def test_the_schedule_starts_monitoring_for_the_meeting_in_progress(meeting):
    await wait_until(lambda: meeting.monitoring.get("hall") is not None, within=5, what="monitoring on")
    monitor = meeting.monitoring.get("hall")
    assert monitor.booking == "board" and monitor.actor == "scheduler"
    assert monitor.until == meeting.schedule.booking("hall", "board").end
    async with httpx.AsyncClient(base_url=meeting.url, timeout=30) as client:
        view = (await client.get("/api/rooms/hall/monitoring")).json()
        assert view["running"] and view["booking"] == "board" and 50 < view["remaining_minutes"] <= 55
        assert (await client.post("/api/rooms/hall/monitoring/stop")).status_code == 401
        stopped = await client.post("/api/rooms/hall/monitoring/stop", headers=AUTH)
        assert stopped.json() == {"room": "hall", "running": False, "was_running": True}
        assert not (await client.get("/api/rooms/hall/monitoring")).json()["running"]
        again = await client.post("/api/rooms/hall/monitoring/start", headers=AUTH, json={"minutes": 30})
        assert again.status_code == 200 and again.json()["running"]
        assert 29 < again.json()["remaining_minutes"] <= 30


async def test_rf_loss_and_a_device_going_offline_raise_alerts_linked_to_their_playbooks(meeting):
    await wait_until(lambda: meeting.monitoring.get("hall") is not None, within=5, what="monitoring on")
    with meeting.bus.subscribe() as events:
        meeting.placed_simulators["hall/mics"].inject("rf_loss", channel=1)
        rf = await next_event(events, alert_events(events, kind="rf-loss", state="raised"))
        meeting.placed_simulators["hall/proj"].inject("no_reply")
        offline = await next_event(events, alert_events(events, kind="device-offline", state="raised"))
        meeting.placed_simulators["hall/mics"].clear_faults("rf_loss")
        cleared = await next_event(events, alert_events(events, kind="rf-loss", state="cleared"))
    assert rf.data["message"]["en"] == "Mic 1 — Chair: RF lost (out of range, or an antenna is off)"
    assert rf.data["severity"] == "critical" and rf.data["playbook_url"] == "/api/rooms/hall/playbooks/rf-loss"
    assert offline.data["device"] == "proj" and offline.data["message"]["en"].startswith("Main projector is offline")
    assert offline.data["playbook"] == "device-offline"
    assert cleared.data["data"]["clears"] == rf.data["id"]
    async with httpx.AsyncClient(base_url=meeting.url, timeout=30) as client:
        listed = (await client.get("/api/alerts", params={"room": "hall"})).json()
    assert {(a["kind"], a["state"]) for a in listed} >= {("rf-loss", "raised"), ("rf-loss", "cleared"),
                                                        ("device-offline", "raised")}
    # The alert's link runs its playbook: the technician follows it for the projector, which
    # answers again once the run has seen it offline and is at its first remedy.
    with meeting.bus.subscribe() as events:
        started = await meeting.playbooks.start("hall", offline.data["playbook"], device=offline.data["device"],
                                                actor="av tech")
        await next_event(events, lambda e: e.kind == "playbook" and e.data["run"] == started.id
                         and e.data["event"] == "step")
        meeting.placed_simulators["hall/proj"].clear_faults()
        run = await meeting.playbooks.wait(started.id)
    assert run.outcome == "resolved", run
    await wait_for_status(meeting.site.device("hall", "proj").supervisor, Status.ONLINE, within=5)


async def test_an_alert_starts_its_playbook_by_itself_when_the_room_says_so(meeting):
    meeting.config.room("hall").monitoring.auto_playbooks = True
    await wait_until(lambda: meeting.monitoring.get("hall") is not None, within=5, what="monitoring on")
    sim = meeting.placed_simulators["hall/proj"]
    with meeting.bus.subscribe() as events:
        sim.inject("no_reply")
        alert = await next_event(events, alert_events(events, kind="device-offline", state="raised"))
        started = await next_event(events, lambda e: e.kind == "playbook" and e.data["event"] == "started"
                                   and e.data["kind"] == "device-offline")
        sim.clear_faults()  # someone plugs the cable back in while the playbook retries
        finished = await next_event(events, lambda e: e.kind == "playbook" and e.data["event"] == "finished"
                                    and e.data["run"] == started.data["run"], within=15)
    run = await meeting.routine_records.run(started.data["run"])
    assert run["trigger"] == alert.data["id"] and run["actor"] == "monitoring" and run["device"] == "proj"
    assert finished.data["outcome"] == "resolved"


async def test_room_temperature_out_of_band_raises_an_alert(meeting):
    # The afternoon sun: 27 °C in the room, the air-conditioning off.
    await wait_until(lambda: meeting.monitoring.get("hall") is not None, within=5, what="monitoring on")
    alerts = await wait_until_alert(meeting, "climate-not-reaching-target")
    assert alerts[0]["message"]["en"] == "Room temperature 27.0 °C is outside 21–25 °C"
    assert alerts[0]["device"] == "thermostat" and alerts[0]["playbook"] == "climate-not-reaching-target"


async def wait_until_alert(controller, kind: str) -> list[dict]:
    found: list[dict] = []

    async def stored() -> bool:
        found[:] = [a for a in await controller.routine_records.alerts(room="hall") if a["kind"] == kind]
        return bool(found)

    with controller.bus.subscribe() as events:
        if not await stored():
            await next_event(events, alert_events(events, kind=kind))
            await stored()
    return found


def test_monitoring_settings_are_validated_with_their_place():
    from controller.config import ConfigError

    text = textwrap.dedent("""\
        site: venue
        rooms:
          - id: hall
            monitoring: {temperature_band: [26, 20]}
        """)
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert error.value.problems[0].place == "rooms[0].monitoring"
    assert "temperature_band is [low, high]" in error.value.problems[0].message
