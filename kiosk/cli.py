"""`roomctl kiosk ...`: the organiser's commands on a desk's store."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
RUNNING_DESKS = ("The desk running on this store takes it up within a second and tells the site's other desks "
                 "over MQTT (public keys only); a desk that is offline hears it when it reconnects.")


def add_kiosk_commands(commands) -> None:
    kiosk = commands.add_parser("kiosk", help="check-in desks: attendees, keys, badges, revocations, the sign-in sheet")
    actions = kiosk.add_subparsers(metavar="ACTION")

    def action(name: str, help_: str, run, *, config: bool = True) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_)
        if config:
            parser.add_argument("config", type=Path, help="the desk's site config (with a kiosk: section)")
        parser.set_defaults(run=lambda args: _guarded(run, args))
        return parser

    imp = action("import", "import attendees from .csv/.xlsx (all rows or none) or an event pack (.json)", _import)
    imp.add_argument("file", type=Path)
    pack = action("pack", "write the event pack other desks import: attendees, refs, public keys, revocations", _pack)
    pack.add_argument("out", type=Path)
    keys = action("keys", "badge signing keys: list, new (rotate), retire ID", _keys)
    keys.add_argument("verb", choices=["list", "new", "retire"])
    keys.add_argument("key_id", nargs="?", type=int)
    revoke = action("revoke", "cancel an attendee's badge (lost, stolen); --reissue gives a new one", _revoke)
    revoke.add_argument("attendee_id")
    revoke.add_argument("--reason", default="lost badge")
    revoke.add_argument("--reissue", action="store_true")
    badges = action("badges", "printable badges: QR images and a print-ready page (and PDF)", _badges)
    badges.add_argument("--out", type=Path, default=Path("badges"))
    badges.add_argument("--list", dest="list_id", help="only attendees on this list")
    badges.add_argument("--pdf", action="store_true", help="also print badges.pdf with Chromium")
    export = action("export", "the sign-in sheet (签到表) as .csv or .xlsx", _export)
    export.add_argument("out", type=Path)
    action("pin", "hash a supervisor PIN for the config (read from the terminal)", _pin, config=False)


def _guarded(run, args) -> int:
    from kiosk.errors import ImportRejected, KioskError

    try:
        return run(args)
    except ImportRejected as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_FAILED
    except (KioskError, OSError) as exc:
        print(f"roomctl kiosk: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _desk(args):
    from controller.config import ConfigError, load_config
    from kiosk.admin import store_path
    from kiosk.store import KioskStore

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    if config.kiosk is None:
        print(f"{args.config}: no kiosk: section, this is not a check-in desk", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    return config, config.kiosk, KioskStore(store_path(config.store, config.kiosk), durability=config.kiosk.durability)


def _import(args) -> int:
    from kiosk.admin import import_attendees

    _, kiosk, store = _desk(args)
    report = import_attendees(store, kiosk, args.file)
    print(f"{args.file}: {report.added} added, {report.updated} updated")
    return EXIT_OK


def _pack(args) -> int:
    from kiosk.admin import export_pack

    _, kiosk, store = _desk(args)
    print(f"{args.out}: {export_pack(store, kiosk, args.out)} attendees (personal data: keep it safe)")
    return EXIT_OK


def _keys(args) -> int:
    from kiosk.admin import list_keys, new_key, retire_key

    _, _, store = _desk(args)
    if args.verb == "new":
        print(f"key {new_key(store)} is active; earlier keys keep verifying. {RUNNING_DESKS}")
    elif args.verb == "retire":
        if args.key_id is None:
            print("retire which key id?", file=sys.stderr)
            return EXIT_CONFIG
        retire_key(store, args.key_id)
        print(f"key {args.key_id} retired: badges signed with it no longer count. {RUNNING_DESKS}")
    else:
        print(json.dumps(list_keys(store), indent=2))
    return EXIT_OK


def _revoke(args) -> int:
    from kiosk.admin import revoke

    _, _, store = _desk(args)
    done = revoke(store, args.attendee_id, reason=args.reason, reissue=args.reissue)
    print(f"{done.attendee_id}: badge {done.old_ref} revoked" + (f"; new badge reference {done.new_ref}" if done.new_ref else "")
          + f". {RUNNING_DESKS}")
    return EXIT_OK


def _badges(args) -> int:
    from kiosk.admin import make_badges

    config, kiosk, store = _desk(args)
    written = make_badges(store, kiosk, args.out, event_name=config.name or config.site, list_id=args.list_id,
                          pdf=args.pdf)
    print(f"{args.out}: {len([p for p in written if p.suffix == '.png'])} badges, "
          + ", ".join(p.name for p in written if p.suffix in (".html", ".pdf")))
    return EXIT_OK


def _export(args) -> int:
    from kiosk.admin import export_sheet

    _, kiosk, store = _desk(args)
    print(f"{args.out}: {export_sheet(store, kiosk, args.out)} rows")
    return EXIT_OK


def _pin(args) -> int:
    from kiosk.config import hash_pin

    pin = getpass.getpass("supervisor PIN (4–12 digits): ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        print("a PIN is 4–12 digits", file=sys.stderr)
        return EXIT_CONFIG
    print(hash_pin(pin))
    return EXIT_OK
