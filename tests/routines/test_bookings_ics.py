"""Bookings from the config and from the venue's ICS calendars; bad ones rejected with their place."""

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controller.bookings import Schedule
from controller.cli import main as roomctl_main
from controller.config import ConfigError, load_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOMCTL = [sys.executable, "-m", "controller.cli"]


def write_site(tmp_path, *, hall_bookings="[]", hall_ics="[]", schedule="timezone: Asia/Shanghai"):
    config = tmp_path / "site.yaml"
    config.write_text(textwrap.dedent(f"""\
        site: venue
        schedule:
          {schedule}
        rooms:
          - id: hall
            devices:
              - {{id: proj, driver: pjlink, simulate: true}}
            bookings: {hall_bookings}
            ics: {hall_ics}
          - id: small
        """))
    return config


def write_ics(path, *events: str) -> None:
    """A calendar as a calendar program writes one: CRLF line ends."""
    body = "".join(textwrap.dedent(event).strip() + "\n" for event in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//venue//bookings//EN\n{body}END:VCALENDAR\n"
    path.write_bytes(text.replace("\n", "\r\n").encode())


BOARD = """
    BEGIN:VEVENT
    UID:board-2030-03-11@venue.example
    SUMMARY:Board meeting
    DTSTART;TZID=Asia/Shanghai:20300311T090000
    DTEND;TZID=Asia/Shanghai:20300311T110000
    PRIORITY:1
    X-ROOMCTL-CAPABILITIES:lamps,input
    ATTENDEE;CN=Chair:mailto:chair@venue.example
    ATTENDEE;CN=Secretary:mailto:secretary@venue.example
    END:VEVENT
"""


def problems(exc: ConfigError) -> list[str]:
    return [str(p) for p in exc.problems]


def test_ics_bookings_are_read_with_their_zone_priority_attendees_and_needs(tmp_path):
    write_ics(tmp_path / "hall.ics", BOARD, """
        BEGIN:VEVENT
        UID:training-utc
        SUMMARY:Training
        DTSTART:20300311T060000Z
        DURATION:PT90M
        X-ROOMCTL-ATTENDEES:40
        END:VEVENT
    """, """
        BEGIN:VEVENT
        UID:floating-lunch
        SUMMARY:Lunch talk
        DTSTART:20300311T160000
        DTEND:20300311T170000
        END:VEVENT
    """, """
        BEGIN:VEVENT
        UID:cancelled-1
        SUMMARY:Called off
        STATUS:CANCELLED
        DTSTART:20300311T090000
        DTEND:20300311T100000
        END:VEVENT
    """)
    config = load_config(write_site(tmp_path, hall_ics="[hall.ics]"))
    schedule = Schedule.from_config(config)
    board, training, lunch = schedule.bookings(room="hall")
    assert (board.id, board.title, board.important, board.attendees) == ("board-2030-03-11@venue.example",
                                                                        "Board meeting", True, 2)
    assert board.required_capabilities == ("lamps", "input")
    assert board.start == datetime(2030, 3, 11, 9, 0, tzinfo=SHANGHAI) and board.end - board.start == timedelta(hours=2)
    assert board.source == "hall.ics line 4"
    # 06:00Z is 14:00 in Shanghai; a DURATION gives the end
    assert training.start == datetime(2030, 3, 11, 14, 0, tzinfo=SHANGHAI)
    assert training.end == datetime(2030, 3, 11, 15, 30, tzinfo=SHANGHAI)
    assert (training.important, training.attendees) == (False, 40)
    # a time without a zone is the site's time
    assert lunch.start == datetime(2030, 3, 11, 16, 0, tzinfo=SHANGHAI)
    assert "cancelled-1" not in [b.id for b in schedule.bookings()]


def test_yaml_bookings_take_the_site_timezone_and_may_follow_each_other(tmp_path):
    config = load_config(write_site(tmp_path, hall_bookings="""
              - {id: board, title: Board, start: "2030-03-11 09:00", end: "2030-03-11 10:00", important: true,
                 attendees: 12, required_capabilities: [lamps]}
              - {id: press, title: Press, start: "2030-03-11 10:00", end: "2030-03-11 11:00"}"""))
    board, press = Schedule.from_config(config).bookings(room="hall")
    assert board.start == datetime(2030, 3, 11, 9, 0, tzinfo=SHANGHAI)
    assert (board.important, board.attendees, board.required_capabilities) == (True, 12, ("lamps",))
    assert press.start == board.end  # back to back is not an overlap


def test_overlapping_yaml_bookings_name_both_places(tmp_path):
    path = write_site(tmp_path, hall_bookings="""
              - {id: board, title: Board, start: "2030-03-11 09:00", end: "2030-03-11 11:00"}
              - {id: press, title: Press, start: "2030-03-11 10:30", end: "2030-03-11 12:00"}""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.place == "rooms[0].bookings[1]"
    assert problem.line == 10
    assert problem.message == ("'Press' (2030-03-11 10:30–12:00) overlaps 'Board' (2030-03-11 09:00–11:00), "
                               "rooms[0].bookings[0] on line 9")


def test_an_ics_booking_overlapping_a_yaml_one_names_the_file_line(tmp_path):
    write_ics(tmp_path / "hall.ics", BOARD)
    path = write_site(tmp_path, hall_ics="[hall.ics]", hall_bookings="""
              - {id: early, title: Early, start: "2030-03-11 08:00", end: "2030-03-11 09:30"}""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert problems(caught.value) == [
        "rooms[0].ics[0] (hall.ics line 4): 'Board meeting' (2030-03-11 09:00–11:00) overlaps 'Early' "
        "(2030-03-11 08:00–09:30), rooms[0].bookings[0] on line 9 (line 10)"
    ]


def test_bookings_in_different_rooms_may_share_a_time(tmp_path):
    write_ics(tmp_path / "small.ics", BOARD)
    path = write_site(tmp_path, hall_bookings="""
              - {id: board, title: Board, start: "2030-03-11 09:00", end: "2030-03-11 11:00"}""")
    path.write_text(path.read_text() + "    ics: [small.ics]\n")
    schedule = Schedule.from_config(load_config(path))
    assert [b.room for b in schedule.bookings()] == ["hall", "small"]


def test_a_booking_ending_before_it_starts_is_refused_at_its_place(tmp_path):
    path = write_site(tmp_path, hall_bookings="""
              - {id: board, title: Board, start: "2030-03-11 11:00", end: "2030-03-11 09:00"}""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert problems(caught.value) == ["rooms[0].bookings[0]: end 2030-03-11 09:00:00 is not after start "
                                      "2030-03-11 11:00:00 (line 9)"]


def test_malformed_ics_events_are_reported_with_file_line_and_uid(tmp_path):
    write_ics(tmp_path / "hall.ics", """
        BEGIN:VEVENT
        UID:bad-date
        SUMMARY:Typo
        DTSTART:2030031XT090000
        DTEND:20300311T100000
        END:VEVENT
    """, """
        BEGIN:VEVENT
        UID:backwards
        SUMMARY:Backwards
        DTSTART:20300312T100000
        DTEND:20300312T090000
        END:VEVENT
    """, """
        BEGIN:VEVENT
        UID:weekly
        SUMMARY:Weekly
        DTSTART:20300313T100000
        DTEND:20300313T110000
        RRULE:FREQ=WEEKLY
        END:VEVENT
    """, """
        BEGIN:VEVENT
        UID:nowhere
        SUMMARY:Odd zone
        DTSTART;TZID=Mars/Olympus:20300314T100000
        DTEND;TZID=Mars/Olympus:20300314T110000
        END:VEVENT
    """)
    with pytest.raises(ConfigError) as caught:
        load_config(write_site(tmp_path, hall_ics="[hall.ics]"))
    assert problems(caught.value) == [
        "rooms[0].ics[0]: hall.ics: line 7, UID bad-date: DTSTART: Wrong datetime format: 2030031XT090000 (line 9)",
        "rooms[0].ics[0]: hall.ics: line 14, UID backwards: ends 2030-03-12 09:00:00+08:00, not after its start "
        "2030-03-12 10:00:00+08:00 (line 9)",
        "rooms[0].ics[0]: hall.ics: line 21, UID weekly: a recurring event (RRULE/RDATE): roomctl books single "
        "events; export the occurrences one by one (line 9)",
        "rooms[0].ics[0]: hall.ics: line 26, UID nowhere: DTSTART: unknown TZID 'Mars/Olympus' "
        "(no VTIMEZONE defines it) (line 9)",
    ]


def test_a_file_that_is_not_icalendar_or_is_missing_is_a_config_error(tmp_path):
    (tmp_path / "notes.ics").write_text("Board meeting on Monday\n")
    with pytest.raises(ConfigError) as caught:
        load_config(write_site(tmp_path, hall_ics="[notes.ics, missing.ics]"))
    not_ics, missing = problems(caught.value)
    assert not_ics.startswith("rooms[0].ics[0]: notes.ics: line 1: Content line could not be parsed")
    assert missing.startswith("rooms[0].ics[1]: missing.ics: cannot read: ")


def test_schedule_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write_site(tmp_path, schedule="{timezone: Asia/Shangai, climate_band: [24, 22]}"))
    assert problems(caught.value) == [
        "schedule.timezone: 'Asia/Shangai' is not an IANA timezone (e.g. Asia/Shanghai, Europe/Berlin) (line 3)",
        "schedule.climate_band: low 24 °C must be below high 22 °C (line 3)",
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(write_site(tmp_path, schedule="{recheck_before: 70}"))
    assert problems(caught.value) == ["schedule: recheck_before (70 min) would come before the self-test (60 min): "
                                      "the re-check follows the self-test (line 2)"]


def test_rehearsal_time_may_be_written_unquoted(tmp_path):
    # YAML 1.1 reads 15:30 as the number 930; the config takes it as the time it was written as.
    config = load_config(write_site(tmp_path, schedule="{timezone: Asia/Shanghai, rehearsal_at: 15:30}"))
    assert config.schedule.rehearsal_at.isoformat() == "15:30:00"


def test_free_rooms_are_those_without_an_overlapping_booking(tmp_path):
    config = load_config(write_site(tmp_path, hall_bookings="""
              - {id: board, title: Board, start: "2030-03-11 09:00", end: "2030-03-11 11:00"}"""))
    schedule = Schedule.from_config(config)
    at = lambda h, m=0: datetime(2030, 3, 11, h, m, tzinfo=SHANGHAI)  # noqa: E731
    assert schedule.free_rooms(at(10), at(12)) == ["small"]
    assert schedule.free_rooms(at(11), at(12)) == ["hall", "small"]
    assert schedule.free_rooms(at(8), at(9)) == ["hall", "small"]
    assert schedule.free_rooms(at(11), at(12), exclude=["hall"]) == ["small"]
    assert schedule.booking_at("hall", at(10, 30)).id == "board"
    assert schedule.booking_at("hall", at(11)) is None
    assert schedule.next_booking("hall", at(7)).id == "board"


def test_roomctl_schedule_prints_the_days_timeline(tmp_path, capsys):
    write_ics(tmp_path / "hall.ics", BOARD)
    path = write_site(tmp_path, hall_ics="[hall.ics]")
    result = subprocess.run([*ROOMCTL, "schedule", str(path), "--date", "2030-03-11"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "2030-03-11 (Asia/Shanghai)"
    assert lines[1].split() == ["time", "room", "meeting", "action"]
    rows = [line.split("  ") for line in lines[3:]]
    assert [(r[0], r[-1].strip()) for r in rows] == [
        ("07:45", "climate_start (lead 45 min)"),
        ("08:00", "selftest"),
        ("08:15", "recheck"),
        ("08:30", "scene:ready"),
        ("08:40", "reminder (room attended)"),
        ("09:00", "monitor_start"),
        ("11:00", "monitor_stop"),
        ("11:00", "post_meeting"),
    ]
    assert all("hall" in line and "Board meeting" in line for line in lines[3:])
    assert roomctl_main(["schedule", str(path), "--date", "2030-03-10", "--room", "hall"]) == 0
    assert capsys.readouterr().out.splitlines()[3].split() == ["16:00", "hall", "Board", "meeting", "selftest",
                                                               "(rehearsal)"]


def test_roomctl_schedule_refuses_a_bad_date_or_room(tmp_path, capsys):
    path = write_site(tmp_path)
    assert roomctl_main(["schedule", str(path), "--date", "2030-02-30"]) == 2
    assert capsys.readouterr().err.strip() == ("roomctl: --date: '2030-02-30' is not a date: give YYYY-MM-DD, "
                                               "e.g. 2025-03-10")
    assert roomctl_main(["schedule", str(path), "--room", "attic"]) == 2
    assert capsys.readouterr().err.strip() == f"roomctl: --room: no room 'attic' in {path}; rooms: hall, small"
