"""The organiser's side: import attendees, keys, revocations, badges, event packs, the sheet.

These run from the command line (`roomctl kiosk ...`) on a desk's store, directly
through SQLite: WAL lets them write while the desk runs. Each change is one
transaction: it happens whole or not at all.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kiosk import reports
from kiosk.attendees import ImportReport, apply_rows, parse_rows, read_pack, read_table, write_pack
from kiosk.checkin import load_keyring
from kiosk.config import KioskConfig
from kiosk.errors import ImportRejected, KioskError, UnknownAttendee
from kiosk.store import KioskStore
from kiosk.tokens import Keyring, KeyState, new_ref

CHROMIUM = "/usr/bin/chromium"
# Printing a few hundred badges to PDF takes seconds; a hung browser must not hang the command.
PDF_TIMEOUT = 120


def store_path(site_store: str, kiosk: KioskConfig) -> Path:
    """The desk's own store: its path, relative to the site store's folder unless absolute."""
    path = Path(kiosk.store)
    return path if path.is_absolute() else Path(site_store).parent / path


@contextlib.contextmanager
def transaction(store: KioskStore):
    store.initialise()
    db = store.connect()
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()


def import_attendees(store: KioskStore, kiosk: KioskConfig, path: Path) -> ImportReport:
    known = [item.id for item in kiosk.lists]
    if path.suffix.lower() == ".json":
        rows, keys, revoked = read_pack(path, event_id=kiosk.event, known_lists=known)
        with transaction(store) as db:
            report = apply_rows(db, rows)
            for key in keys:
                public = base64.b64decode(key["public"])
                db.execute("INSERT INTO badge_keys(key_id, public, state) VALUES (?,?,?) ON CONFLICT(key_id) DO "
                           "UPDATE SET state = excluded.state WHERE badge_keys.public = excluded.public",
                           (key["id"], public, key["state"]))
                if db.execute("SELECT public FROM badge_keys WHERE key_id = ?", (key["id"],)).fetchone()[0] != public:
                    raise ImportRejected(str(path), [(None, f"key {key['id']} differs from the one this desk holds")])
            db.executemany("INSERT OR IGNORE INTO revoked(ref, at, reason) VALUES (?,?,?)",
                           [(r["ref"], r.get("at", ""), r.get("reason", "")) for r in revoked])
        return report
    rows = parse_rows(str(path), read_table(path), known_lists=known, default_list=kiosk.default_list,
                      photo_dir=path.parent / "photos")
    with transaction(store) as db:
        return apply_rows(db, rows)


def export_pack(store: KioskStore, kiosk: KioskConfig, out: Path) -> int:
    with transaction(store) as db:
        pack = write_pack(db, kiosk.event)
    out.write_text(json.dumps(pack, ensure_ascii=False, indent=1), encoding="utf-8")
    os.chmod(out, 0o600)  # names and seats: personal data
    return len(pack["attendees"])


# --- keys -------------------------------------------------------------------------------


def new_key(store: KioskStore) -> int:
    """A new signing key; the previous active one keeps verifying (its badges stay good)."""
    private, public = Keyring.generate()
    with transaction(store) as db:
        key_id = db.execute("SELECT COALESCE(MAX(key_id), 0) + 1 FROM badge_keys").fetchone()[0]
        if key_id > 255:
            raise KioskError("key ids are used up (255): start a new event id")
        db.execute("UPDATE badge_keys SET state = 'verify' WHERE state = 'active'")
        db.execute("INSERT INTO badge_keys(key_id, public, private, state) VALUES (?,?,?, 'active')",
                   (key_id, public, private))
    return key_id


def retire_key(store: KioskStore, key_id: int) -> None:
    with transaction(store) as db:
        if db.execute("UPDATE badge_keys SET state = 'retired', private = NULL WHERE key_id = ?",
                      (key_id,)).rowcount != 1:
            raise KioskError(f"no key {key_id}")


def list_keys(store: KioskStore) -> list[dict]:
    with transaction(store) as db:
        return [{"id": k, "state": s, "signs": bool(p)}
                for k, s, p in db.execute("SELECT key_id, state, private IS NOT NULL FROM badge_keys ORDER BY key_id")]


# --- revocation ----------------------------------------------------------------------------


@dataclass
class Revoked:
    attendee_id: str
    old_ref: str
    new_ref: str | None


def revoke(store: KioskStore, attendee_id: str, *, reason: str, reissue: bool) -> Revoked:
    """Cancel a badge (lost, stolen). With ``reissue`` the attendee gets a new reference: print a new badge."""
    with transaction(store) as db:
        row = db.execute("SELECT ref FROM attendees WHERE id = ?", (attendee_id,)).fetchone()
        if row is None:
            raise UnknownAttendee(attendee_id)
        old = row[0]
        db.execute("INSERT OR IGNORE INTO revoked(ref, at, reason) VALUES (?,?,?)",
                   (old, datetime.now(timezone.utc).isoformat(), reason))
        fresh = None
        if reissue:
            fresh = new_ref()
            db.execute("UPDATE attendees SET ref = ? WHERE id = ?", (fresh, attendee_id))
        return Revoked(attendee_id, old, fresh)


# --- badges -----------------------------------------------------------------------------


def make_badges(store: KioskStore, kiosk: KioskConfig, out: Path, *, event_name: str, list_id: str | None = None,
                pdf: bool = False) -> list[Path]:
    import segno

    out.mkdir(parents=True, exist_ok=True)
    with transaction(store) as db:
        keyring = load_keyring(db, kiosk.event)
        sql = "SELECT id, ref, name, organisation, title, seat, vip FROM attendees"
        args: tuple = ()
        if list_id:
            sql += " WHERE id IN (SELECT attendee FROM memberships WHERE list = ?)"
            args = (list_id,)
        people = db.execute(sql + " ORDER BY seat, id", args).fetchall()
    cards, written = [], []
    for attendee_id, ref, name, organisation, title, seat, vip in people:
        code = keyring.sign(ref)
        qr = segno.make(code, error="m", boost_error=False)
        safe_id = attendee_id.replace("/", "_")
        qr.save(out / f"{safe_id}.png", scale=6, border=4)
        qr.save(out / f"{safe_id}.svg", scale=4, border=4, xmldecl=False, svgns=True)
        written += [out / f"{safe_id}.png", out / f"{safe_id}.svg"]
        svg = qr.svg_inline(scale=4, border=2)
        cards.append(f"""<div class="badge{' vip' if vip else ''}"><div class="event">{html.escape(event_name)}</div>
<div class="kind">代表证 · BADGE</div><div class="name">{html.escape(name)}</div>
<div class="org">{html.escape(organisation)}</div><div class="title">{html.escape(title)}</div>
<div class="qr">{svg}</div><div class="seat">座位 Seat <b>{html.escape(seat or '—')}</b></div></div>""")
    page = out / "badges.html"
    page.write_text(BADGE_PAGE.replace("<!--CARDS-->", "\n".join(cards)), encoding="utf-8")
    written.append(page)
    if pdf:
        written.append(print_pdf(page, out / "badges.pdf"))
    return written


def print_pdf(page: Path, target: Path) -> Path:
    browser = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if browser is None:
        raise KioskError("PDF needs Chromium (apt-get install chromium); badges.html prints from any browser")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-pdf-header-footer", f"--print-to-pdf={target}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=PDF_TIMEOUT)
    if not target.exists():
        raise KioskError("Chromium did not write the PDF")
    return target


BADGE_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>代表证 Badges</title>
<style>
@page { size: A4; margin: 10mm; }
body { margin: 0; font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
.sheet { display: grid; grid-template-columns: repeat(2, 90mm); gap: 6mm 8mm; justify-content: center; }
.badge { width: 90mm; height: 128mm; border: 0.3mm dashed #999; box-sizing: border-box; padding: 5mm; text-align: center;
  page-break-inside: avoid; break-inside: avoid; display: flex; flex-direction: column; align-items: center; }
.badge.vip { border: 1.2mm solid #c9a227; }
.event { font-size: 11pt; color: #444; } .kind { font-size: 9pt; color: #b22; letter-spacing: 2pt; margin: 1mm 0 3mm; }
.name { font-size: 26pt; font-weight: 700; } .org { font-size: 11pt; margin-top: 1mm; } .title { font-size: 10pt; color: #555; }
.qr { margin: 3mm 0 2mm; } .qr svg { width: 52mm; height: 52mm; }
.seat { font-size: 13pt; } .seat b { font-size: 18pt; }
</style></head><body><div class="sheet">
<!--CARDS-->
</div></body></html>"""


# --- the sign-in sheet ------------------------------------------------------------------------


def export_sheet(store: KioskStore, kiosk: KioskConfig, out: Path) -> int:
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("csv", "xlsx"):
        raise KioskError("the sign-in sheet is written as .csv or .xlsx")
    with transaction(store) as db:
        data = reports.sheet_csv(db, kiosk) if kind == "csv" else reports.sheet_xlsx(db, kiosk)
        rows = len(reports.sheet_rows(db, kiosk))
    out.write_bytes(data)
    os.chmod(out, 0o600)
    return rows


__all__ = ["KeyState", "sqlite3"]
