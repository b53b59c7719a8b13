"""`roomctl archive list|show|export|add-maintenance`: the equipment archive (设备档案).

Reads ask the running controller at ``--url``; with ``--config`` they read the config's
SQLite store instead (the controller may be stopped — the archive keeps each device's last
reading). Adding maintenance always goes through the running controller, which records it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

EXIT_OK, EXIT_CONFIG, EXIT_COULD_NOT_RUN = 0, 2, 3
LIST_COLUMNS = ("room", "device", "name", "model", "serial", "firmware", "lamp h", "filter h", "status", "faults",
                "maint.")


class CommandFailed(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def add_archive_commands(commands) -> None:
    archive = commands.add_parser("archive", help="the equipment archive: identity, wear, faults, maintenance")
    actions = archive.add_subparsers(metavar="ACTION")

    def common(parser, *, offline: bool = True) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8080", help="a running controller's API")
        if offline:
            parser.add_argument("--config", type=Path, help="read this site's store file instead of asking --url")

    listing = actions.add_parser("list", help="every device, one line each")
    common(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)

    show = actions.add_parser("show", help="one device with its fault and maintenance history")
    show.add_argument("device", metavar="ROOM/DEVICE")
    common(show)
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_show)

    export = actions.add_parser("export", help="the archive as CSV (for a spreadsheet)")
    common(export)
    export.add_argument("--output", "-o", type=Path, help="write to this file (default: standard output)")
    export.set_defaults(run=_export)

    maintenance = actions.add_parser("add-maintenance", help="record maintenance done on a device")
    maintenance.add_argument("device", metavar="ROOM/DEVICE")
    maintenance.add_argument("--by", required=True, help="who did the work")
    maintenance.add_argument("--note", required=True, help="what was done")
    maintenance.add_argument("--at", help="when, YYYY-MM-DD[THH:MM] (default: now)")
    common(maintenance, offline=False)
    maintenance.add_argument("--token", default=os.environ.get("ROOMCTL_TOKEN"),
                             help="technician or admin token (default: $ROOMCTL_TOKEN)")
    maintenance.add_argument("--json", action="store_true")
    maintenance.set_defaults(run=_add_maintenance)
    archive.set_defaults(run=lambda args: archive.print_help() or EXIT_CONFIG)


def _reporting(action):
    def run(args) -> int:
        try:
            return action(args)
        except CommandFailed as exc:
            print(f"roomctl: {exc}", file=sys.stderr)
            return exc.code
    return run


@_reporting
def _list(args) -> int:
    entries = _read(args, lambda archive: archive.entries(), "/api/archive")
    if args.json:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
    else:
        print(render_list(entries))
    return EXIT_OK


@_reporting
def _show(args) -> int:
    room, device = _room_device(args.device)
    entry = _read(args, lambda archive: archive.entry(room, device),
                  f"/api/archive/{urllib.parse.quote(room)}/{urllib.parse.quote(device)}")
    if args.json:
        print(json.dumps(entry, indent=2, ensure_ascii=False))
    else:
        print(render_entry(entry))
    return EXIT_OK


@_reporting
def _export(args) -> int:
    text = _read(args, lambda archive: archive.csv(), "/api/archive.csv", raw=True)
    if args.output is None:
        sys.stdout.write(text.removeprefix("\ufeff"))  # the BOM is for spreadsheets, not terminals
    else:
        args.output.write_text(text, encoding="utf-8", newline="")
        print(f"{text.count(chr(10)) - 1} devices → {args.output}", file=sys.stderr)
    return EXIT_OK


@_reporting
def _add_maintenance(args) -> int:
    room, device = _room_device(args.device)
    if not args.token:
        raise CommandFailed("a token is needed: --token or $ROOMCTL_TOKEN", EXIT_CONFIG)
    body = {"by": args.by, "note": args.note}
    if args.at is not None:
        from datetime import datetime

        try:
            body["at"] = datetime.fromisoformat(args.at).isoformat()
        except ValueError:
            raise CommandFailed(f"--at: {args.at!r} is not a date or time: give YYYY-MM-DD or YYYY-MM-DDTHH:MM",
                                EXIT_CONFIG) from None
    url = (f"{args.url.rstrip('/')}/api/archive/{urllib.parse.quote(room)}/{urllib.parse.quote(device)}"
           "/maintenance")
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {args.token}",
                                              "Content-Type": "application/json"})
    record = json.loads(_fetch(request, args.url))
    if args.json:
        print(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        print(f"recorded #{record['id']}: {record['room']}/{record['device']} {record['at'][:16]} "
              f"by {record['by']}: {record['note']}")
    return EXIT_OK


# --- where the archive comes from ------------------------------------------------------------


def _read(args, read, path: str, *, raw: bool = False):
    if getattr(args, "config", None) is not None:
        return asyncio.run(_offline(args.config, read, raw=raw))
    text = _fetch(urllib.request.Request(f"{args.url.rstrip('/')}{path}"), args.url)
    return text if raw else json.loads(text)


def _fetch(request: urllib.request.Request, base: str) -> str:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        try:
            message = json.loads(body)
            message = message.get("message") or message.get("detail") or body
        except (ValueError, AttributeError):
            message = body
        raise CommandFailed(f"{exc.code}: {_readable(message)}",
                            EXIT_CONFIG if exc.code in (401, 403, 404, 422) else EXIT_COULD_NOT_RUN) from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommandFailed(f"no controller answers at {base}: {exc}", EXIT_COULD_NOT_RUN) from None


def _readable(message) -> str:
    """FastAPI's validation errors as 'field: problem' lines."""
    if isinstance(message, list):
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in message)
    return str(message)


async def _offline(config_path: Path, read, *, raw: bool):
    from controller.archive import Archive, UnknownDevice
    from controller.bookings import site_zone
    from controller.config import ConfigError, load_config
    from controller.store import Store

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise CommandFailed(exc.report(), EXIT_CONFIG) from None
    if config.store == ":memory:" or not Path(config.store).exists():
        raise CommandFailed(f"no store at {config.store}: the controller has not run with {config_path}", EXIT_CONFIG)
    store = Store(config.store)
    await store.open()
    try:
        archive = Archive(config, store, zone=site_zone(config))
        await archive.open()
        result = await read(archive)
    except UnknownDevice as exc:
        raise CommandFailed(str(exc), EXIT_CONFIG) from None
    finally:
        await store.close()
    return result if raw else _jsonable(result)


def _jsonable(result):
    if isinstance(result, list):
        return [item.model_dump(mode="json") for item in result]
    return result.model_dump(mode="json")


def _room_device(text: str) -> tuple[str, str]:
    room, slash, device = text.partition("/")
    if not slash or not room or not device or "/" in device:
        raise CommandFailed(f"{text!r}: name the device as ROOM/DEVICE, e.g. hall/projector", EXIT_CONFIG)
    return room, device


# --- tables -------------------------------------------------------------------------------


def render_list(entries: list[dict]) -> str:
    rows = [(e["room"], e["device"], e["name"], e.get("model") or "", e.get("serial_number") or "",
             e.get("firmware") or "", ";".join(str(h) for h in e.get("lamp_hours") or []),
             "" if e.get("filter_hours") is None else str(e["filter_hours"]),
             (e.get("status") or "unknown") + ("" if e.get("live") else "*"),
             str(e["fault_count"]), str(e["maintenance_count"])) for e in entries]
    widths = [max(len(LIST_COLUMNS[i]), *(len(r[i]) for r in rows)) if rows else len(LIST_COLUMNS[i])
              for i in range(len(LIST_COLUMNS))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    table = [line(LIST_COLUMNS), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if any(not e.get("live") for e in entries):
        table.append("* last known status, from the store: the controller is not running")
    return "\n".join(table)


def render_entry(e: dict) -> str:
    facts = [
        ("device", f"{e['room']}/{e['device']}  {e['name']}"),
        ("function", e.get("function")),
        ("model", " ".join(part for part in (e.get("manufacturer"), e.get("model")) if part) or None),
        ("serial", e.get("serial_number")),
        ("firmware", e.get("firmware")),
        ("driver", e["driver"]),
        ("installed", e.get("installed")),
        ("lamp hours", ";".join(str(h) for h in e.get("lamp_hours") or []) or None),
        ("filter hours", e.get("filter_hours")),
        ("status", f"{e.get('status') or 'unknown'}" + ("" if e.get("live") else " (last known)")),
        ("read at", (e.get("read_at") or "")[:19] or None),
    ]
    lines = [f"{label:<13}{value}" for label, value in facts if value not in (None, "")]
    lines.append(f"faults ({e['fault_count']}):")
    lines += [f"  {f['at'][:19]}  {f['kind']:<8} {f.get('detail') or ''}".rstrip() for f in e.get("faults") or []]
    lines.append(f"maintenance ({e['maintenance_count']}):")
    lines += [f"  {m['at'][:16]}  {m['by']}: {m['note']}" for m in e.get("maintenance") or []]
    return "\n".join(lines)
