"""What staff, the big screen and the organisers read: counts, lists, the seat map, the
sign-in sheet (签到表). Read-only queries on the store's reader connection; names appear
only in the functions the staff and admin roles are served from."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import zoneinfo
from datetime import datetime
from typing import Any

from kiosk.attendees import search_key
from kiosk.checkin import iso
from kiosk.config import KioskConfig

SEARCH_LIMIT = 10
# Each person's latest scan on a list (ties in time broken as the decision engine breaks them).
LATEST = ("SELECT ref, direction, ROW_NUMBER() OVER (PARTITION BY ref ORDER BY at DESC, origin DESC, seq DESC) "
          "AS latest FROM checkins WHERE list = ?")


def local_time(at: str | None, zone: str) -> str | None:
    if not at:
        return None
    return datetime.fromisoformat(at).astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def counts(db: sqlite3.Connection, config: KioskConfig) -> list[dict[str, Any]]:
    out = []
    for cfg in config.lists:
        expected = db.execute("SELECT COUNT(*) FROM memberships WHERE list = ?", (cfg.id,)).fetchone()[0]
        signed_in = db.execute("SELECT COUNT(DISTINCT ref) FROM checkins WHERE list = ? AND direction = 'in'",
                               (cfg.id,)).fetchone()[0]
        present = db.execute(f"SELECT COUNT(*) FROM ({LATEST}) WHERE latest = 1 AND direction = 'in'",
                             (cfg.id,)).fetchone()[0]
        late = 0
        if cfg.starts is not None:
            late = db.execute("SELECT COUNT(*) FROM (SELECT MIN(at) AS first FROM checkins WHERE list = ? "
                              "AND direction = 'in' GROUP BY ref) WHERE first > ?", (cfg.id, iso(cfg.starts))).fetchone()[0]
        conflicts = db.execute("SELECT COUNT(*) FROM conflicts WHERE list = ?", (cfg.id,)).fetchone()[0]
        out.append({"list": cfg.id, "name": cfg.name, "expected": expected, "signed_in": signed_in,
                    "present": present, "late": late, "not_arrived": max(0, expected - signed_in),
                    "conflicts": conflicts})
    return out


def staff_view(db: sqlite3.Connection, config: KioskConfig, limit: int = 20) -> dict[str, Any]:
    """The staff page: counts, late arrivals, recent scans, overrides, conflicts, VIP arrivals."""
    zone = config.timezone

    def person(ref: str | None) -> dict[str, Any]:
        row = db.execute("SELECT id, name, organisation, seat, vip FROM attendees WHERE ref = ?", (ref,)).fetchone() \
            if ref else None
        if row is None:
            return {"attendee_id": None, "name": None, "organisation": None, "seat": None, "vip": False}
        return {"attendee_id": row[0], "name": row[1], "organisation": row[2], "seat": row[3], "vip": bool(row[4])}

    late = []
    for cfg in config.lists:
        if cfg.starts is None:
            continue
        for ref, first, kiosk in db.execute(
                "SELECT ref, MIN(at) AS first, kiosk FROM checkins WHERE list = ? AND direction = 'in' GROUP BY ref "
                "HAVING first > ? ORDER BY first DESC LIMIT ?", (cfg.id, iso(cfg.starts), limit)):
            late.append({"list": cfg.id, "at": local_time(first, zone), "kiosk": kiosk, **person(ref)})
    recent = [{"at": local_time(at, zone), "kiosk": kiosk, "source": source, "result": result, "list": list_id,
               "direction": direction, "detail": detail, **person(ref)}
              for at, kiosk, source, result, ref, list_id, direction, detail in db.execute(
                  "SELECT * FROM (SELECT at, kiosk, source, result, ref, list, direction, detail FROM scans "
                  "ORDER BY id DESC LIMIT ?) UNION ALL SELECT * FROM (SELECT at, kiosk, 'desk', 'ok', ref, list, "
                  "direction, reason FROM checkins WHERE kiosk = ? ORDER BY at DESC LIMIT ?) ORDER BY at DESC LIMIT ?",
                  (limit, config.id, limit, limit))]
    overrides = [{"at": local_time(at, zone), "kiosk": kiosk, "staff": staff, "reason": reason, "list": list_id,
                  **person(ref)}
                 for at, kiosk, staff, reason, ref, list_id in db.execute(
                     "SELECT at, kiosk, staff, reason, ref, list FROM checkins WHERE reason IS NOT NULL "
                     "ORDER BY at DESC LIMIT ?", (limit,))]
    conflicts = []
    for ref, list_id, o1, s1, o2, s2 in db.execute("SELECT * FROM conflicts ORDER BY ref, list"):
        first = db.execute("SELECT at, kiosk, offline FROM checkins WHERE origin = ? AND seq = ?", (o1, s1)).fetchone()
        second = db.execute("SELECT at, kiosk, offline FROM checkins WHERE origin = ? AND seq = ?", (o2, s2)).fetchone()
        conflicts.append({"list": list_id, "ref": ref, **person(ref),
                          "first": {"at": local_time(first[0], zone), "kiosk": first[1], "offline": bool(first[2])},
                          "second": {"at": local_time(second[0], zone), "kiosk": second[1], "offline": bool(second[2])}})
    vips = [{"at": local_time(at, zone), "kiosk": kiosk, "list": list_id, **person(ref)}
            for ref, at, kiosk, list_id in db.execute(
                "SELECT c.ref, c.at, c.kiosk, c.list FROM checkins c JOIN attendees a ON a.ref = c.ref "
                "WHERE a.vip = 1 AND c.direction = 'in' ORDER BY c.at DESC LIMIT ?", (limit,))]
    return {"counts": counts(db, config), "late": late, "recent": recent, "overrides": overrides,
            "conflicts": conflicts, "vip_arrivals": vips}


def seat_map(db: sqlite3.Connection, list_id: str) -> list[dict[str, Any]]:
    """Every seat on the list and whether its holder is in: the big screen's map, no names."""
    inside = {ref for ref, in db.execute(f"SELECT ref FROM ({LATEST}) WHERE latest = 1 AND direction = 'in'",
                                         (list_id,))}
    seats = [(seat, ref in inside) for seat, ref in db.execute(
        "SELECT a.seat, a.ref FROM attendees a JOIN memberships m ON m.attendee = a.id "
        "WHERE m.list = ? AND a.seat != ''", (list_id,))]
    rows: dict[str, list] = {}
    for seat, is_in in seats:
        match = re.fullmatch(r"(.*?)[-\s]?(\d+)", seat)
        row, number = (match.group(1) or "·", int(match.group(2))) if match else (seat, 0)
        rows.setdefault(row, []).append({"seat": seat, "number": number, "in": is_in})
    return [{"row": row, "seats": sorted(items, key=lambda s: (s["number"], s["seat"]))}
            for row, items in sorted(rows.items(), key=lambda kv: _natural(kv[0]))]


def _natural(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def search(db: sqlite3.Connection, query: str, min_chars: int) -> list[dict[str, str]]:
    """Name search: nothing below ``min_chars``; only name, organisation and seat (and the id to sign in)."""
    key = search_key(query)
    if len(key) < min_chars:
        return []
    pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = db.execute("SELECT id, name, organisation, seat FROM attendees WHERE search LIKE ? ESCAPE '\\' "
                      "ORDER BY (search LIKE ? ESCAPE '\\') DESC, name LIMIT ?",
                      (pattern, pattern[1:], SEARCH_LIMIT)).fetchall()
    return [{"attendee_id": r[0], "name": r[1], "organisation": r[2], "seat": r[3]} for r in rows]


# --- the sign-in sheet -----------------------------------------------------------------

SHEET_HEADER = ["编号 ID", "姓名 Name", "单位 Organisation", "职务 Title", "座位 Seat", "名单 List",
                "签到时间 Signed in", "签到台 Desk", "迟到 Late", "离场 Left", "补签说明 Override", "离线 Offline",
                "冲突 Conflict"]


def sheet_rows(db: sqlite3.Connection, config: KioskConfig) -> list[list[str]]:
    zone = config.timezone
    conflicted = {(ref, list_id) for ref, list_id in db.execute("SELECT ref, list FROM conflicts")}
    rows = []
    for cfg in config.lists:
        starts = iso(cfg.starts) if cfg.starts else None
        firsts = {ref: (at, kiosk, reason, offline) for ref, at, kiosk, reason, offline in db.execute(
            "SELECT ref, MIN(at), kiosk, reason, offline FROM checkins WHERE list = ? AND direction = 'in' GROUP BY ref",
            (cfg.id,))}
        lasts_out = dict(db.execute("SELECT ref, MAX(at) FROM checkins WHERE list = ? AND direction = 'out' "
                                    "GROUP BY ref", (cfg.id,)).fetchall())
        people = db.execute(
            "SELECT a.id, a.ref, a.name, a.organisation, a.title, a.seat FROM attendees a WHERE a.id IN "
            "(SELECT attendee FROM memberships WHERE list = ?) OR a.ref IN "
            "(SELECT ref FROM checkins WHERE list = ?) ORDER BY a.seat, a.id", (cfg.id, cfg.id)).fetchall()
        for attendee_id, ref, name, organisation, title, seat in people:
            first = firsts.get(ref)
            rows.append([attendee_id, name, organisation, title, seat, cfg.name,
                         local_time(first[0], zone) if first else "", first[1] if first else "",
                         "是 yes" if first and starts and first[0] > starts else "",
                         local_time(lasts_out.get(ref), zone) or "", (first[2] or "") if first else "",
                         "是 yes" if first and first[3] else "", "是 yes" if (ref, cfg.id) in conflicted else ""])
    return rows


def sheet_csv(db: sqlite3.Connection, config: KioskConfig) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SHEET_HEADER)
    writer.writerows(_safe(row) for row in sheet_rows(db, config))
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8 Chinese right


def sheet_xlsx(db: sqlite3.Connection, config: KioskConfig) -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "签到表"
    sheet.append(SHEET_HEADER)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in sheet_rows(db, config):
        sheet.append(_safe(row))
    for column, width in zip("ABCDEFGHIJKLM", (12, 14, 24, 14, 8, 14, 20, 10, 8, 20, 20, 8, 8)):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _safe(row: list[str]) -> list[str]:
    """Cells that start like a formula are written as text: a name typed as =HYPERLINK(...) stays a name."""
    return ["'" + cell if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@") else cell for cell in row]
