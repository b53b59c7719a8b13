"""The organiser's side: import attendees, keys, revocations, badges, event packs, the sheet.

These run from the command line (`roomctl kiosk ...`) on a desk's store, directly
through SQLite: WAL lets them write while the desk runs. Each change is one
transaction: it happens whole or not at all. Revocations and keys go through the same
merge as those that arrive over MQTT (kiosk.sync); a desk running on the store takes
them up within a second and passes them on to the other desks.
"""

from __future__ import annotations

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
from kiosk.checkin import iso, load_keyring
from kiosk.config import KioskConfig
from kiosk.errors import ImportRejected, KioskError, UnknownAttendee
from kiosk.store import KioskStore
from kiosk.sync import REASON_MAX, PublicKey, Revocation, badges_touched, decode_key, decode_revocation, merge_badges
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
            # Revocations as the desks send them to each other, or the pack is refused: one
            # malformed here would make every message this desk sends refused by the others.
            revocations, public_keys, problems = [], [], []
            for item in revoked:
                try:
                    revocations.append(decode_revocation([item["ref"], item.get("at", ""), item.get("reason", ""), None]))
                except (TypeError, ValueError) as exc:
                    problems.append((None, f"revocation of {item['ref']}: {exc}"))
            for key in keys:
                try:  # which key signs is each desk's own business: the pack says only whether it still counts
                    public_keys.append(decode_key([key["id"], key.get("public"),
                                                   "retired" if key["state"] == KeyState.RETIRED else "verify"]))
                except (TypeError, ValueError) as exc:
                    problems.append((None, f"key {key['id']}: {exc}"))
            if problems:
                raise ImportRejected(str(path), problems)
            # A key only goes on to retired: an older pack cannot bring a retired key back.
            change = merge_badges(db, revocations, public_keys)
            if change.refused:
                raise ImportRejected(str(path), [(None, reason) for reason in change.refused])
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
        badges_touched(db)
    return key_id


def retire_key(store: KioskStore, key_id: int) -> None:
    with transaction(store) as db:
        row = db.execute("SELECT public FROM badge_keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            raise KioskError(f"no key {key_id}")
        merge_badges(db, [], [PublicKey(key_id, bytes(row[0]), retired=True)])


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
    if not reason.strip() or len(reason) > REASON_MAX:
        raise KioskError(f"a revocation needs a reason of at most {REASON_MAX} characters")
    with transaction(store) as db:
        row = db.execute("SELECT ref FROM attendees WHERE id = ?", (attendee_id,)).fetchone()
        if row is None:
            raise UnknownAttendee(attendee_id)
        old = row[0]
        fresh = new_ref() if reissue else None
        merge_badges(db, [Revocation(old, iso(datetime.now(timezone.utc)), reason, fresh)], [])
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
