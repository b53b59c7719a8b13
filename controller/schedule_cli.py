"""`roomctl schedule [CONFIG] [--date D] [--room R]`: a day's timeline of the technician's routine.

With CONFIG the timeline is computed here from the config's bookings and ICS files (the
climate start from the config's constant lead); without it the running controller at
``--url`` answers, with each entry's status and its thermal model's climate start.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

EXIT_OK, EXIT_CONFIG, EXIT_COULD_NOT_RUN = 0, 2, 3
COLUMNS = ("time", "room", "meeting", "action", "status")


def add_schedule_command(commands) -> None:
    parser = commands.add_parser("schedule", help="a day's timeline: self-tests, scenes, reminders, monitoring")
    parser.add_argument("config", nargs="?", type=Path, help="compute it from this site config (else ask --url)")
    parser.add_argument("--date", help="YYYY-MM-DD in the site's timezone (default: today)")
    parser.add_argument("--room", help="only this room")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="a running controller's API")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_schedule)


def _schedule(args) -> int:
    from controller.schedule import parse_day

    try:
        day = parse_day(args.date) if args.date is not None else None
    except ValueError as exc:
        print(f"roomctl: --date: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.config is not None:
        return _here(args, day)
    query = {k: v for k, v in (("date", day.isoformat() if day else None), ("room", args.room)) if v is not None}
    url = f"{args.url.rstrip('/')}/api/schedule" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        print(f"roomctl: {exc.code}: {_message(exc)}", file=sys.stderr)
        return EXIT_CONFIG if exc.code in (404, 422) else EXIT_COULD_NOT_RUN
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"roomctl: no controller answers at {args.url}: {exc}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    return _print(answer, args)


def _here(args, day) -> int:
    from controller.bookings import Schedule
    from controller.config import ConfigError, load_config
    from controller.schedule import Timeline, zone_name

    try:
        config = load_config(args.config)
        schedule = Schedule.from_config(config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_CONFIG
    if args.room is not None and args.room not in schedule.rooms:
        print(f"roomctl: --room: no room {args.room!r} in {args.config}; rooms: {', '.join(schedule.rooms)}",
              file=sys.stderr)
        return EXIT_CONFIG
    day = day or datetime.now(schedule.zone).date()
    entries = Timeline(schedule, config.schedule).day(day, room=args.room)
    return _print({"date": day.isoformat(), "timezone": zone_name(schedule.zone),
                   "entries": [entry.view() for entry in entries]}, args)


def _print(answer: dict, args) -> int:
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(render_timeline(answer))
    return EXIT_OK


def render_timeline(answer: dict) -> str:
    """The day as a table: time (site-local), room, meeting, action (and status from a running controller)."""
    entries = answer["entries"]
    head = f"{answer['date']} ({answer['timezone']})"
    if not entries:
        return f"{head}: nothing scheduled"
    with_status = any("status" in e for e in entries)
    columns = COLUMNS if with_status else COLUMNS[:-1]
    rows = [(datetime.fromisoformat(e["at"]).strftime("%H:%M"), e["room"], e["title"], _action(e), e.get("status", ""))
            [:len(columns)] for e in entries]
    widths = [max(len(columns[i]), *(len(r[i]) for r in rows)) for i in range(len(columns))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([head, line(columns), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _action(entry: dict) -> str:
    details = entry.get("details", {})
    if entry["step"] == "rehearsal":
        return f"{entry['action']} (rehearsal)"
    if entry["step"] == "climate":
        return f"{entry['action']} (lead {details.get('lead_minutes', 0):g} min)"
    if entry["step"] == "reminder":
        return f"{entry['action']} (room attended)"
    return entry["action"]


def _message(error: urllib.error.HTTPError) -> str:
    body = error.read().decode(errors="replace")
    try:
        return json.loads(body).get("message", body)
    except (ValueError, AttributeError):
        return body
