"""Bookings: each room's meetings, from the config's ``bookings:`` and from ICS files.

ICS files are read with ``icalendar`` (RFC 5545). What a meeting needs beyond a time and a
title rides on standard properties where RFC 5545 has one, on ``X-ROOMCTL-`` ones where not:

- important: ``PRIORITY`` 1-4 (RFC 5545 §3.8.1.9: "high"), or ``X-ROOMCTL-IMPORTANT:TRUE``
- expected attendees: ``X-ROOMCTL-ATTENDEES:40``, else the number of ``ATTENDEE`` lines
- required capabilities: ``X-ROOMCTL-CAPABILITIES:lamps,input``
- ``STATUS:CANCELLED`` events are not bookings.

Every problem — an unreadable or malformed file, a bad property, a booking overlapping
another in the same room — is a :class:`ConfigProblem` naming its place in the site
config and, for ICS, the file's line and the event's UID.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

from controller.config import ConfigError, ConfigProblem, SiteConfig
from controller.schedule_config import BookingConfig, known_capability

HIGH_PRIORITY = range(1, 5)  # RFC 5545 §3.8.1.9: 1-4 high, 5 medium, 6-9 low, 0 undefined

LineOf = Callable[[tuple], "int | None"]


class Booking(BaseModel):
    """A meeting in a room, its times timezone-aware."""

    model_config = ConfigDict(frozen=True)

    id: str
    room: str
    title: str
    start: datetime
    end: datetime
    important: bool = False
    attendees: int | None = None
    required_capabilities: tuple[str, ...] = ()
    source: str = "config"  # "config", or "board.ics line 12"

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


# --- the site's timezone -------------------------------------------------------------------


def site_zone(config: SiteConfig) -> tzinfo:
    """The config's ``schedule.timezone``, else this machine's zone."""
    if config.schedule.timezone is not None:
        return ZoneInfo(config.schedule.timezone)
    return local_zone()


def local_zone() -> tzinfo:
    """This machine's zone by name where it can be found (so DST is right), else its current offset."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with_link = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in with_link:
        candidates.append(with_link.split("zoneinfo/", 1)[1])
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.now().astimezone().tzinfo


def _aware(value: datetime | date, zone: tzinfo) -> datetime:
    if not isinstance(value, datetime):  # an all-day event: from the day's midnight in the site's zone
        return datetime.combine(value, time(0), zone)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


# --- ICS files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IcsProblem:
    message: str
    line: int | None = None  # 1-based physical line in the file
    uid: str | None = None

    def __str__(self) -> str:
        where = ", ".join(part for part in (f"line {self.line}" if self.line else "",
                                            f"UID {self.uid}" if self.uid else "") if part)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class IcsEvent:
    booking: Booking
    line: int | None


def read_ics(path: Path, *, room: str, zone: tzinfo) -> tuple[list[IcsEvent], list[IcsProblem]]:
    """The bookings in one ICS file and the problems found; a file with problems books nothing."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [IcsProblem(f"cannot read: {exc}")]
    import icalendar  # here, not at start: only a site with calendar files needs it (~8 MB)

    lines = text.splitlines()
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except ValueError as exc:  # icalendar's parse errors are ValueErrors
        return [], [IcsProblem(_first_line_of(str(exc)), _line_quoted_in(str(exc), lines, 0, len(lines)))]
    if not calendars:
        return [], [IcsProblem("no VCALENDAR in the file")]
    spans = _event_spans(lines)
    events: list[IcsEvent] = []
    problems: list[IcsProblem] = []
    index = 0
    for calendar in calendars:
        for component in calendar.walk():
            if component.name != "VEVENT":
                for prop, message in component.errors:  # icalendar keeps what it could not parse
                    problems.append(IcsProblem(f"{component.name}: {prop or 'content line'}: {message}",
                                               _line_quoted_in(message, lines, 0, len(lines))))
                continue
            span = spans[index] if index < len(spans) else (0, len(lines))
            index += 1
            event, event_problems = _read_event(component, span, lines, room=room, zone=zone, file=path.name)
            problems += event_problems
            if event is not None:
                events.append(event)
    return ([] if problems else events), problems


def _read_event(component, span: tuple[int, int], lines: list[str], *, room: str, zone: tzinfo,
                file: str) -> tuple[IcsEvent | None, list[IcsProblem]]:
    uid = str(component.get("UID", "")) or None
    begin_line = span[0] + 1
    problems = [
        IcsProblem(f"{prop or 'content line'}: {message}",
                   _line_of_property(prop, lines, span) if prop else _line_quoted_in(message, lines, *span)
                   or begin_line, uid)
        for prop, message in component.errors
    ]
    if problems:
        return None, problems
    if str(component.get("STATUS", "")).upper() == "CANCELLED":
        return None, []
    if uid is None:
        return None, [IcsProblem("VEVENT without a UID (RFC 5545 requires one)", begin_line)]
    if "RRULE" in component or "RDATE" in component:
        return None, [IcsProblem("a recurring event (RRULE/RDATE): roomctl books single events; "
                                 "export the occurrences one by one", _line_of_property("RRULE", lines, span)
                                 or _line_of_property("RDATE", lines, span), uid)]
    for prop in ("DTSTART", "DTEND"):
        value = component.get(prop)
        floating = value is not None and isinstance(value.dt, datetime) and value.dt.tzinfo is None
        if floating and value.params.get("TZID"):
            return None, [IcsProblem(f"{prop}: unknown TZID {value.params['TZID']!r} (no VTIMEZONE defines it)",
                                     _line_of_property(prop, lines, span), uid)]
    try:
        start, end = component.start, component.end
    except (ValueError, KeyError) as exc:  # icalendar.IncompleteComponent, InvalidCalendar: no DTSTART...
        return None, [IcsProblem(str(exc), begin_line, uid)]
    start, end = _aware(start, zone), _aware(end, zone)
    line = _line_of_property("DTSTART", lines, span) or begin_line
    if end <= start:
        return None, [IcsProblem(f"ends {end.isoformat(' ')}, not after its start {start.isoformat(' ')}",
                                 _line_of_property("DTEND", lines, span) or line, uid)]
    try:
        important = _important(component)
        attendees = _attendees(component)
        listed = str(component.get("X-ROOMCTL-CAPABILITIES", "")).split(",")
        needs = tuple(known_capability(name.strip()) for name in listed if name.strip())
    except ValueError as exc:
        return None, [IcsProblem(str(exc), begin_line, uid)]
    booking = Booking(id=uid, room=room, title=str(component.get("SUMMARY", "")) or uid, start=start, end=end,
                      important=important, attendees=attendees, required_capabilities=needs,
                      source=f"{file} line {begin_line}")
    return IcsEvent(booking, begin_line), []


def _important(component) -> bool:
    flag = str(component.get("X-ROOMCTL-IMPORTANT", "")).strip().upper()
    if flag not in ("", "TRUE", "FALSE"):
        raise ValueError(f"X-ROOMCTL-IMPORTANT: {flag!r} is not TRUE or FALSE")
    priority = component.get("PRIORITY")
    try:
        high = priority is not None and int(priority) in HIGH_PRIORITY
    except (TypeError, ValueError):
        raise ValueError(f"PRIORITY: {priority!r} is not a number 0-9") from None
    return flag == "TRUE" or high


def _attendees(component) -> int | None:
    expected = component.get("X-ROOMCTL-ATTENDEES")
    if expected is not None:
        if not str(expected).strip().isdigit():
            raise ValueError(f"X-ROOMCTL-ATTENDEES: {str(expected)!r} is not a number of people")
        return int(str(expected))
    listed = component.get("ATTENDEE")
    if listed is None:
        return None
    return len(listed) if isinstance(listed, list) else 1


def _event_spans(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last+1) 0-based physical lines of each VEVENT, in file order."""
    spans, begin = [], None
    for number, line in enumerate(lines):
        word = line.strip().upper()
        if word == "BEGIN:VEVENT":
            begin = number
        elif word == "END:VEVENT" and begin is not None:
            spans.append((begin, number + 1))
            begin = None
    return spans


def _line_of_property(name: str | None, lines: list[str], span: tuple[int, int]) -> int | None:
    if not name:
        return None
    pattern = re.compile(rf"^{re.escape(name)}[;:]", re.IGNORECASE)
    for number in range(*span):
        if pattern.match(lines[number]):
            return number + 1
    return None


def _line_quoted_in(message: str, lines: list[str], first: int, last: int) -> int | None:
    """icalendar quotes the content line it could not parse: find it in the file."""
    match = re.search(r"'([^']+)'", message)
    if match is None:
        return None
    quoted = match.group(1)
    for number in range(first, last):
        if quoted in lines[number]:
            return number + 1
    return None


def _first_line_of(message: str) -> str:
    return message.splitlines()[0] if message else "not an iCalendar file"


# --- the site's bookings -------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedBooking:
    booking: Booking
    place: str  # rooms[0].bookings[2], rooms[0].ics[0]
    line: int | None  # the config's line


def collect_bookings(config: SiteConfig, *, base_dir: Path | None = None,
                     line_of: LineOf = lambda loc: None) -> tuple[dict[str, list[PlacedBooking]], list[ConfigProblem]]:
    """Every room's bookings from YAML and ICS, and every problem with its place."""
    zone = site_zone(config)
    by_room: dict[str, list[PlacedBooking]] = {}
    problems: list[ConfigProblem] = []
    for r, room in enumerate(config.rooms):
        placed: list[PlacedBooking] = []
        for b, entry in enumerate(room.bookings):
            loc = ("rooms", r, "bookings", b)
            placed.append(PlacedBooking(_from_config(entry, room.id, zone), _place(loc), line_of(loc)))
        for f, name in enumerate(room.ics):
            loc = ("rooms", r, "ics", f)
            path = _resolved(name, base_dir)
            events, ics_problems = read_ics(path, room=room.id, zone=zone)
            problems += [ConfigProblem(_place(loc), f"{path.name}: {problem}", line_of(loc))
                         for problem in ics_problems]
            placed += [PlacedBooking(event.booking, f"{_place(loc)} ({path.name} line {event.line})", line_of(loc))
                       for event in events]
        problems += _duplicates(placed) + _overlaps(placed)
        by_room[room.id] = sorted(placed, key=lambda p: (p.booking.start, p.booking.end))
    return by_room, problems


def check_bookings(config: SiteConfig, *, source: str, base_dir: Path | None = None,
                   line_of: LineOf = lambda loc: None) -> SiteConfig:
    """Part of loading a config: the bookings must be readable and must not collide.

    Returns the config with each room's ICS paths made absolute (relative ones are beside
    the config file), so the running schedule reads the same files.
    """
    _, problems = collect_bookings(config, base_dir=base_dir, line_of=line_of)
    if problems:
        raise ConfigError(source, problems)
    if base_dir is None or not any(room.ics for room in config.rooms):
        return config
    rooms = [room.model_copy(update={"ics": [str(_resolved(name, base_dir)) for name in room.ics]})
             for room in config.rooms]
    return config.model_copy(update={"rooms": rooms})


def _from_config(entry: BookingConfig, room: str, zone: tzinfo) -> Booking:
    return Booking(id=entry.id, room=room, title=entry.title, start=_aware(entry.start, zone),
                   end=_aware(entry.end, zone), important=entry.important, attendees=entry.attendees,
                   required_capabilities=tuple(entry.required_capabilities))


def _resolved(name: str, base_dir: Path | None) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() or base_dir is None else base_dir / path


def _duplicates(placed: list[PlacedBooking]) -> list[ConfigProblem]:
    seen: dict[str, PlacedBooking] = {}
    problems = []
    for entry in placed:
        first = seen.setdefault(entry.booking.id, entry)
        if first is not entry:
            problems.append(ConfigProblem(entry.place, f"booking id {entry.booking.id!r} is also used at {first.place}",
                                          entry.line))
    return problems


def _overlaps(placed: list[PlacedBooking]) -> list[ConfigProblem]:
    """Each booking that starts before an earlier one in the same room has ended."""
    problems = []
    running: PlacedBooking | None = None  # the booking, among those seen, that ends last
    for entry in sorted(placed, key=lambda p: (p.booking.start, p.booking.end)):
        if running is not None and entry.booking.start < running.booking.end:
            problems.append(ConfigProblem(
                entry.place,
                f"{_span(entry.booking)} overlaps {_span(running.booking)}, {running.place}"
                + (f" on line {running.line}" if running.line else ""),
                entry.line,
            ))
        if running is None or entry.booking.end > running.booking.end:
            running = entry
    return problems


def _span(booking: Booking) -> str:
    same_day = booking.start.date() == booking.end.date()
    end = booking.end.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")
    return f"{booking.title!r} ({booking.start:%Y-%m-%d %H:%M}–{end})"


def _place(loc: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else (f".{part}" if i else part) for i, part in enumerate(loc))


# --- the schedule ---------------------------------------------------------------------------


class Schedule:
    """The bookings of every room, sorted, and the questions asked of them."""

    def __init__(self, bookings: Iterable[Booking], *, rooms: Iterable[str], zone: tzinfo) -> None:
        self.zone = zone
        self.rooms = list(rooms)
        self._by_room: dict[str, list[Booking]] = {room: [] for room in self.rooms}
        for booking in bookings:
            self._by_room.setdefault(booking.room, []).append(booking)
        for room_bookings in self._by_room.values():
            room_bookings.sort(key=lambda b: (b.start, b.end))

    @classmethod
    def from_config(cls, config: SiteConfig) -> "Schedule":
        """Raises ConfigError when a booking or an ICS file is wrong (e.g. a file changed since loading)."""
        by_room, problems = collect_bookings(config)
        if problems:
            raise ConfigError("schedule", problems)
        return cls((p.booking for placed in by_room.values() for p in placed),
                   rooms=[room.id for room in config.rooms], zone=site_zone(config))

    def bookings(self, *, room: str | None = None, start: datetime | None = None,
                 end: datetime | None = None) -> list[Booking]:
        """Bookings (of a room) that overlap [start, end), in time order."""
        rooms = [room] if room is not None else self.rooms
        found = [b for r in rooms for b in self._by_room.get(r, [])
                 if (start is None or b.end > start) and (end is None or b.start < end)]
        return sorted(found, key=lambda b: (b.start, b.room))

    def booking(self, room: str, booking_id: str) -> Booking | None:
        return next((b for b in self._by_room.get(room, []) if b.id == booking_id), None)

    def booking_at(self, room: str, when: datetime) -> Booking | None:
        """The meeting in progress in a room at ``when``."""
        return next((b for b in self._by_room.get(room, []) if b.start <= when < b.end), None)

    def next_booking(self, room: str, after: datetime) -> Booking | None:
        """The first meeting in a room that starts at or after ``after``."""
        return next((b for b in self._by_room.get(room, []) if b.start >= after), None)

    def free_rooms(self, start: datetime, end: datetime, *, exclude: Iterable[str] = ()) -> list[str]:
        """Rooms with no booking overlapping [start, end): candidates for an alternate room."""
        if end <= start:
            raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        excluded = set(exclude)
        return [room for room in self.rooms
                if room not in excluded and not any(b.overlaps(start, end) for b in self._by_room.get(room, []))]

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """The site-local day as an aware [start, end)."""
        start = datetime.combine(day, time(0), self.zone)
        return start, datetime.combine(day + timedelta(days=1), time(0), self.zone)
