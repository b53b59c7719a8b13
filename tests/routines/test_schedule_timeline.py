"""The technician's day: each booking's timeline, run by the scheduler on an accelerated clock."""

import asyncio
import textwrap
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest

from controller.app import Controller
from controller.bookings import Schedule
from controller.cli import main as roomctl_main
from controller.clock import Clock
from controller.config import parse_config
from controller.events import EventBus
from controller.schedule import EntryStatus, Scheduler, Step, Timeline
from helpers import wait_until

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOKEN = "schedule-technician-token-0123"


def board_site(schedule: str = "timezone: Asia/Shanghai"):
    return parse_config(textwrap.dedent(f"""\
        site: venue
        schedule: {{{schedule}}}
        rooms:
          - id: hall
            bookings:
              - {{id: board, title: Board, start: "2030-03-11 09:00", end: "2030-03-11 11:00", important: true}}
              - {{id: press, title: Press, start: "2030-03-11 11:00", end: "2030-03-11 12:00"}}
          - id: small
        """))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=SHANGHAI)


def test_an_important_meetings_timeline_follows_the_venue_routine():
    config = board_site()
    timeline = Timeline(Schedule.from_config(config), config.schedule)
    board = timeline.schedule.booking("hall", "board")
    assert [(e.at, e.step, e.action) for e in timeline.entries(board)] == [
        (at(10, 16), Step.REHEARSAL, "selftest"),  # the day before, 16:00
        (at(11, 7, 45), Step.CLIMATE, "climate_start"),  # in band by T-30 with the default 45 min lead
        (at(11, 8), Step.SELFTEST, "selftest"),
        (at(11, 8, 15), Step.RECHECK, "recheck"),
        (at(11, 8, 30), Step.READY, "scene:ready"),
        (at(11, 8, 40), Step.REMINDER, "reminder"),
        (at(11, 9), Step.MONITOR_START, "monitor_start"),
        (at(11, 11), Step.MONITOR_STOP, "monitor_stop"),
        (at(11, 11), Step.POST_MEETING, "post_meeting"),
    ]
    selftest = timeline.entries(board)[2]
    assert selftest.details == {"purpose": "pre_meeting", "meeting_minutes": 120.0}
    assert timeline.entries(board)[-1].details == {"next_booking": "press", "next_start": at(11, 11).isoformat()}
    # an ordinary meeting has no rehearsal
    press = timeline.schedule.booking("hall", "press")
    assert Step.REHEARSAL not in [e.step for e in timeline.entries(press)]


def test_every_offset_comes_from_the_config():
    config = board_site("timezone: Asia/Shanghai, rehearsal_days_before: 2, rehearsal_at: '09:30', "
                        "selftest_before: 90, recheck_before: 70, climate_in_band_before: 40, climate_lead: 60, "
                        "ready_before: 25, ready_scene: presentation, reminder_before: 15, post_meeting_after: 10")
    timeline = Timeline(Schedule.from_config(config), config.schedule)
    entries = {e.step: e for e in timeline.entries(timeline.schedule.booking("hall", "board"))}
    assert entries[Step.REHEARSAL].at == at(9, 9, 30)
    assert entries[Step.SELFTEST].at == at(11, 7, 30)
    assert entries[Step.RECHECK].at == at(11, 7, 50)
    assert entries[Step.CLIMATE].at == at(11, 7, 20)  # 09:00 - 40 min - 60 min
    assert (entries[Step.READY].at, entries[Step.READY].action) == (at(11, 8, 35), "scene:presentation")
    assert entries[Step.REMINDER].at == at(11, 8, 45)
    assert entries[Step.POST_MEETING].at == at(11, 11, 10)


def test_a_thermal_model_sets_the_climate_start_and_a_broken_one_falls_back():
    config = board_site()
    scheduler = Scheduler(Schedule.from_config(config), config.schedule, clock=Clock(), bus=EventBus(Clock()))
    asked = []

    def model(room, band, deadline):
        asked.append((room, band, deadline))
        return timedelta(minutes=80)  # a hot day: the unit needs longer

    scheduler.set_thermal_lead(model)
    board = scheduler.schedule.booking("hall", "board")
    climate = next(e for e in scheduler.timeline.entries(board) if e.step is Step.CLIMATE)
    assert asked == [("hall", (22.0, 24.0), at(11, 8, 30))]
    assert climate.at == at(11, 7, 10)
    assert climate.details == {"band": [22.0, 24.0], "deadline": at(11, 8, 30).isoformat(), "lead_minutes": 80.0}

    def broken(room, band, deadline):
        raise RuntimeError("no temperature reading yet")

    for estimate in (broken, lambda room, band, deadline: timedelta(minutes=-5), lambda *args: 45):
        scheduler.set_thermal_lead(estimate)
        climate = next(e for e in scheduler.timeline.entries(board) if e.step is Step.CLIMATE)
        assert climate.at == at(11, 7, 45), estimate  # the config's constant lead
    scheduler.set_thermal_lead(None)
    assert next(e for e in scheduler.timeline.entries(board) if e.step is Step.CLIMATE).at == at(11, 7, 45)


def zone_where_it_is(hour: int) -> str:
    """An IANA zone in which the local hour is ``hour`` now: the day's routine then starts within minutes."""
    offset = ((hour - datetime.now(timezone.utc).hour + 12) % 24) - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


SPEED = 7200  # two simulated hours a second: the routine of a rehearsal evening and two meetings in under 2 s
LATENESS = timedelta(minutes=10)  # 83 ms of real time: the event loop's jitter, times SPEED


async def test_the_whole_day_runs_every_action_in_order_at_its_simulated_time():
    # A venue where it is 22:xx now: tonight's rehearsal for the important board meeting after
    # midnight, then a training right after it in the same room.
    zone_name = zone_where_it_is(22)
    zone = ZoneInfo(zone_name)
    clock = Clock(speed=SPEED)
    now = clock.now().astimezone(zone)
    rehearsal = (now + timedelta(minutes=5)).replace(second=0, microsecond=0)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), zone)
    board = max(midnight + timedelta(minutes=5), now + timedelta(minutes=85))
    board = board.replace(second=0, microsecond=0) + timedelta(minutes=5 - board.minute % 5)
    training = board + timedelta(minutes=30)
    assert rehearsal.date() == board.date() - timedelta(days=1)
    config = parse_config(textwrap.dedent(f"""\
        site: venue
        schedule: {{timezone: {zone_name}, rehearsal_at: "{rehearsal:%H:%M}"}}
        rooms:
          - id: hall
            bookings:
              - {{id: board, title: Board, start: "{board:%Y-%m-%d %H:%M}", end: "{training:%Y-%m-%d %H:%M}",
                 important: true}}
              - {{id: training, title: Training, start: "{training:%Y-%m-%d %H:%M}",
                 end: "{training + timedelta(minutes=30):%Y-%m-%d %H:%M}"}}
        """))
    bus = EventBus(clock)
    scheduler = Scheduler(Schedule.from_config(config), config.schedule, clock=clock, bus=bus,
                          thermal_lead=lambda room, band, deadline: timedelta(minutes=20))
    called = []

    async def routine(entry):
        called.append((entry.step, entry.booking.id, clock.now()))

    def staff_pager_down(entry):
        raise ConnectionError("pager gateway unreachable")

    for action in ("selftest", "climate_start", "scene:ready", "monitor_start", "monitor_stop", "post_meeting"):
        scheduler.register(action, routine)
    scheduler.register("reminder", staff_pager_down)  # fails: the timeline goes on
    # nobody registers "recheck": it is published and logged, never an error

    with bus.subscribe() as events:
        scheduler.start()
        try:
            seen = []
            deadline = time.monotonic() + 15
            while not any(e.data["event"] == "done" and e.data["step"] == "post_meeting"
                          and e.data["booking"] == "training" for e in seen):
                seen.append(await asyncio.wait_for(events.get(), max(deadline - time.monotonic(), 0.01)))
            attended_at_the_end = scheduler.attended()
        finally:
            await scheduler.stop()

    B = board  # noqa: N806
    expected = [
        (Step.REHEARSAL, "board", rehearsal),
        (Step.SELFTEST, "board", B - timedelta(minutes=60)),
        (Step.CLIMATE, "board", B - timedelta(minutes=50)),  # in band by T-30 with the model's 20 min
        (Step.RECHECK, "board", B - timedelta(minutes=45)),
        (Step.READY, "board", B - timedelta(minutes=30)),
        (Step.SELFTEST, "training", B - timedelta(minutes=30)),
        (Step.REMINDER, "board", B - timedelta(minutes=20)),
        (Step.CLIMATE, "training", B - timedelta(minutes=20)),
        (Step.RECHECK, "training", B - timedelta(minutes=15)),
        (Step.MONITOR_START, "board", B),
        (Step.READY, "training", B),
        (Step.REMINDER, "training", B + timedelta(minutes=10)),
        (Step.MONITOR_STOP, "board", B + timedelta(minutes=30)),
        (Step.POST_MEETING, "board", B + timedelta(minutes=30)),  # the training follows: details say so
        (Step.MONITOR_START, "training", B + timedelta(minutes=30)),
        (Step.MONITOR_STOP, "training", B + timedelta(minutes=60)),
        (Step.POST_MEETING, "training", B + timedelta(minutes=60)),
    ]
    due = [e for e in seen if e.kind == "schedule" and e.data["event"] == "due"]
    assert [(Step(e.data["step"]), e.data["booking"], datetime.fromisoformat(e.data["scheduled_at"]))
            for e in due] == expected
    for event in due:  # never early, and late by no more than the event loop's jitter
        scheduled = datetime.fromisoformat(event.data["scheduled_at"])
        assert scheduled <= event.at <= scheduled + LATENESS, event.data
        assert event.data["catch_up"] is False
    handled = [(step, booking, when) for step, booking, when in expected if step not in (Step.RECHECK, Step.REMINDER)]
    assert [(step, booking) for step, booking, _ in called] == [(step, booking) for step, booking, _ in handled]
    assert all(scheduled <= ran for (_, _, ran), (_, _, scheduled) in zip(called, handled))

    outcome = {(e.data["step"], e.data["booking"]): e.data for e in seen
               if e.kind == "schedule" and e.data["event"] in ("done", "failed")}
    assert outcome[("reminder", "board")]["event"] == "failed"
    assert outcome[("reminder", "board")]["errors"][0]["error"] == "ConnectionError"
    assert outcome[("selftest", "board")]["purpose"] == "pre_meeting"
    assert outcome[("rehearsal", "board")]["purpose"] == "rehearsal"
    assert ("recheck", "board") not in outcome
    recheck = next(e for e in due if e.data["step"] == "recheck")
    assert recheck.data["handled"] is False
    board_post = next(e for e in due if e.data["step"] == "post_meeting" and e.data["booking"] == "board")
    assert board_post.data["next_booking"] == "training"
    statuses = {(e["step"], e["booking"]): e["status"]
                for day in (rehearsal.date(), board.date()) for e in scheduler.day(day)}
    assert statuses[("recheck", "board")] == EntryStatus.UNHANDLED
    assert statuses[("reminder", "training")] == EntryStatus.FAILED
    assert statuses[("post_meeting", "training")] == EntryStatus.DONE
    assert attended_at_the_end == {}  # marked at T-20, released by the post-meeting routine


async def test_a_controller_started_late_catches_up_what_is_still_worth_doing():
    clock = Clock(speed=600)
    now = clock.now()
    start = now + timedelta(minutes=20)  # T-60 self-test, T-45 re-check, T-30 Ready already passed
    config = parse_config(textwrap.dedent(f"""\
        site: venue
        schedule: {{timezone: UTC}}
        rooms:
          - id: hall
            bookings:
              - {{id: ongoing, title: Ongoing, start: "{now - timedelta(minutes=30):%Y-%m-%d %H:%M:%S}",
                 end: "{now + timedelta(minutes=5):%Y-%m-%d %H:%M:%S}"}}
              - {{id: soon, title: Soon, start: "{start + timedelta(minutes=5):%Y-%m-%d %H:%M:%S}",
                 end: "{start + timedelta(minutes=65):%Y-%m-%d %H:%M:%S}"}}
        """))
    bus = EventBus(clock)
    scheduler = Scheduler(Schedule.from_config(config), config.schedule, clock=clock, bus=bus)
    with bus.subscribe() as events:
        scheduler.start()
        try:
            first = [await asyncio.wait_for(events.get(), 5) for _ in range(5)]
        finally:
            await scheduler.stop()
    assert [(e.data["booking"], e.data["step"], e.data["catch_up"]) for e in first] == [
        ("ongoing", "reminder", True),  # the meeting is on: a staff member belongs in the room...
        ("soon", "climate", True),  # ...and the next one's preparation is still worth doing
        ("soon", "selftest", True),
        ("ongoing", "monitor_start", True),
        ("soon", "recheck", True),
    ]  # the ongoing meeting's self-test, re-check and Ready scene are past its start: not run
    assert all(e.data["handled"] is False for e in first)
    statuses = {(e["booking"], e["step"]): e["status"] for e in scheduler.day(now.date())}
    assert statuses.get(("ongoing", "selftest"), "missed") == "missed"  # past its start: not worth running


# --- the scheduler inside the controller ---------------------------------------------------------


def controller_site(tmp_path, start: datetime, end: datetime):
    return parse_config(textwrap.dedent(f"""\
        site: venue
        store: {tmp_path / 'venue.sqlite3'}
        clock: {{speed: 600}}
        schedule: {{timezone: UTC}}
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
                poll_interval: 0.2
                simulator: {{warmup: 0.2, cooldown: 0.2}}
            scenes:
              ready:
                steps:
                  - {{device: proj, command: {{type: power, on: true}}}}
            bookings:
              - {{id: board, title: Board, start: "{start:%Y-%m-%d %H:%M:%S}", end: "{end:%Y-%m-%d %H:%M:%S}"}}
          - id: small  # no Ready scene here: its T-30 step fails, saying so
            bookings:
              - {{id: chat, title: Chat, start: "{start:%Y-%m-%d %H:%M:%S}", end: "{end:%Y-%m-%d %H:%M:%S}"}}
        """))


async def test_the_controller_recalls_the_ready_scene_and_calls_registered_routines(tmp_path, capsys):
    now = datetime.now(timezone.utc)
    start = now + timedelta(minutes=40)  # at 600x: T-30 in 1 s, T-20 in 2 s
    controller = Controller(controller_site(tmp_path, start, start + timedelta(minutes=30)))
    reminded = []
    controller.scheduler.register("reminder", lambda entry: reminded.append((entry.room, entry.booking.id)))
    await controller.start()
    try:
        projector = controller.site.device("hall", "proj").device
        await wait_until(lambda: projector.state.get("power") == "on", within=10, what="the Ready scene at T-30")
        await wait_until(lambda: ("hall", "board") in reminded, within=10, what="the T-20 reminder")
        assert controller.scheduler.attended()["hall"].id == "board"
        assert controller.site.rooms["hall"].attended  # the console shows the hall staffed
        async with httpx.AsyncClient(base_url=controller.url, timeout=10) as client:
            day = (start - timedelta(minutes=30)).date().isoformat()
            answer = (await client.get("/api/schedule", params={"date": day, "room": "hall"})).json()
            ready = next(e for e in answer["entries"] if e["step"] == "ready")
            assert (ready["action"], ready["status"], ready["title"]) == ("scene:ready", "done", "Board")
            assert answer["attended"]["hall"] == "board"
            assert answer["registered_actions"]["reminder"] >= 1
            small = (await client.get("/api/schedule", params={"date": day, "room": "small"})).json()
            assert next(e for e in small["entries"] if e["step"] == "ready")["status"] == "failed"
            bad_date = await client.get("/api/schedule", params={"date": "2030-02-30"})
            assert bad_date.status_code == 422
            assert bad_date.json() == {"error": "BadRequest", "field": "date",
                                       "message": "date: '2030-02-30' is not a date: give YYYY-MM-DD, e.g. 2025-03-10"}
            unknown = await client.get("/api/schedule", params={"room": "attic"})
            assert unknown.status_code == 404 and unknown.json()["message"] == "no room 'attic'"
        # `roomctl schedule` without a config asks the running controller, and shows each entry's status
        capsys.readouterr()
        code = await asyncio.to_thread(roomctl_main, ["schedule", "--url", controller.url, "--date", day])
        lines = capsys.readouterr().out.splitlines()
        assert code == 0 and lines[0] == f"{day} (UTC)"
        assert lines[1].split() == ["time", "room", "meeting", "action", "status"]
        assert any(line.split()[-2:] == ["scene:ready", "done"] for line in lines[3:])
        # After the meeting the post-meeting step releases the hall: nobody need stay any more.
        await wait_until(lambda: not controller.site.rooms["hall"].attended, within=20,
                         what="the post-meeting step releasing the hall")
        assert "hall" not in controller.scheduler.attended()
    finally:
        await controller.stop()
    recorded = await _schedule_events_in(tmp_path / "venue.sqlite3")
    assert ("hall", "ready", "done") in recorded and ("hall", "reminder", "done") in recorded
    failed = recorded[("small", "ready", "failed")]
    assert failed["errors"][0]["detail"] == "room small has no scene 'ready' (schedule.ready_scene)"


async def _schedule_events_in(path) -> dict:
    """The schedule's events as the store kept them: (room, step, event) -> data."""
    import json
    import sqlite3

    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT room, data FROM events WHERE kind = 'schedule'").fetchall()
    events = {}
    for room, data in rows:
        data = json.loads(data)
        events[(room, data["step"], data["event"])] = data
    return events


@pytest.mark.parametrize("bad", ["2030-13-01", "tomorrow", "2030-02-30"])
def test_a_bad_day_is_refused_with_its_text(bad):
    from controller.schedule import parse_day

    with pytest.raises(ValueError, match=f"'{bad}' is not a date: give YYYY-MM-DD"):
        parse_day(bad)
