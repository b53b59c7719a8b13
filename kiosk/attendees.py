"""Attendees from the organisers' spreadsheets (CSV, XLSX), and the event pack kiosks share.

Every row is checked before anything is written; a file with any bad row is refused
whole, with each problem and its line. A good file is applied in one transaction:
attendees already known keep their badge reference (their printed badge stays good),
new ones get a fresh random one.

Headers may be English or Chinese (编号, 姓名, 单位, 职务, 座位, 签到名单, 贵宾, 照片, 禁止).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.errors import ImportRejected
from kiosk.tokens import is_ref, new_ref

HEADERS = {
    "id": ("id", "attendee id", "attendee_id", "编号", "代表编号", "证件号"),
    "name": ("name", "姓名", "名字"),
    "organisation": ("organisation", "organization", "company", "单位", "工作单位", "公司"),
    "title": ("title", "position", "职务", "职位"),
    "seat": ("seat", "座位", "座次", "座位号"),
    "lists": ("lists", "list", "check-in lists", "签到名单", "名单"),
    "vip": ("vip", "贵宾", "重要嘉宾"),
    "blocked": ("blocked", "禁止", "禁止入场"),
    "photo": ("photo", "照片"),
}
REQUIRED = ("id", "name")
YES = {"1", "y", "yes", "true", "是", "√", "✓", "x"}
NO = {"", "0", "n", "no", "false", "否"}
MAX_PHOTO = 512 * 1024  # bytes: a badge photo, not a poster
MAX_FIELD = 200
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PHOTO_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


@dataclass
class AttendeeRow:
    line: int
    id: str
    name: str
    organisation: str = ""
    title: str = ""
    seat: str = ""
    lists: tuple[str, ...] = ()
    vip: bool = False
    blocked: bool = False
    photo: bytes | None = None
    photo_type: str | None = None
    ref: str | None = None  # only from an event pack


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    rows: list[AttendeeRow] = field(default_factory=list)


def search_key(name: str) -> str:
    """What name search matches against: case and width folded, spaces gone."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name).casefold())


# --- reading ------------------------------------------------------------------------


def read_table(path: Path) -> list[tuple[int, list[str]]]:
    """(line, cells) of a CSV or XLSX file, header first."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GB18030 (GBK)
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportRejected(str(path), [(None, "neither UTF-8 nor GB18030 text")])
        rows = csv.reader(io.StringIO(text, newline=""))
        try:
            return [(i, [c.strip() for c in row]) for i, row in enumerate(rows, start=1)]
        except csv.Error as exc:
            raise ImportRejected(str(path), [(None, f"not readable as CSV: {exc}")]) from None
    raise ImportRejected(str(path), [(None, "attendees come as .csv or .xlsx (or a .json event pack)")])


def _read_xlsx(path: Path) -> list[tuple[int, list[str]]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError, Exception) as exc:  # zip errors: BadZipFile
        raise ImportRejected(str(path), [(None, f"not a readable XLSX workbook: {type(exc).__name__}")]) from None
    try:
        sheet = book.worksheets[0]
        table = []
        for i, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            table.append((i, [_cell_text(v) for v in row]))
        return table
    finally:
        book.close()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id typed as 1001 comes back as 1001.0
    return str(value).strip()


def parse_rows(source: str, table: list[tuple[int, list[str]]], *, known_lists: list[str],
               default_list: str, photo_dir: Path | None = None) -> list[AttendeeRow]:
    """Validate every row; raise ImportRejected with all problems, or return the rows."""
    problems: list[tuple[int | None, str]] = []
    table = [(line, cells) for line, cells in table if any(cells)]
    if not table:
        raise ImportRejected(source, [(None, "the file is empty")])
    header_line, header = table[0]
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = cell.strip().lower()
        for field_name, names in HEADERS.items():
            if key in names:
                if field_name in columns:
                    problems.append((header_line, f"two columns for {field_name}"))
                columns[field_name] = index
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise ImportRejected(source, [(header_line, f"missing column(s): {', '.join(missing)} "
                                                    f"(found: {', '.join(c for c in header if c) or 'none'})")])
    rows: list[AttendeeRow] = []
    first_line: dict[str, int] = {}
    seats: dict[tuple[str, str], int] = {}
    for line, cells in table[1:]:
        def cell(name: str) -> str:
            index = columns.get(name)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        row_problems = []
        attendee_id, name = cell("id"), cell("name")
        if not attendee_id:
            row_problems.append("no id")
        elif not ID_RE.fullmatch(attendee_id):
            row_problems.append(f"id {attendee_id[:40]!r}: letters, digits, . _ - only, at most 64")
        elif attendee_id in first_line:
            row_problems.append(f"id {attendee_id} already on line {first_line[attendee_id]}")
        if not name:
            row_problems.append("no name")
        for field_name in ("name", "organisation", "title", "seat"):
            value = cell(field_name)
            if len(value) > MAX_FIELD:
                row_problems.append(f"{field_name} longer than {MAX_FIELD} characters")
            if any(unicodedata.category(ch) == "Cc" for ch in value):
                row_problems.append(f"{field_name} has control characters")
        flags = {}
        for flag in ("vip", "blocked"):
            value = cell(flag).lower()
            if value in YES:
                flags[flag] = True
            elif value in NO:
                flags[flag] = False
            else:
                row_problems.append(f"{flag} {value!r}: yes/no, 1/0, 是/否")
        lists = tuple(dict.fromkeys(x.strip() for x in re.split(r"[;,，；|]", cell("lists")) if x.strip())) \
            or (default_list,)
        unknown = [x for x in lists if x not in known_lists]
        if unknown:
            row_problems.append(f"unknown list(s) {', '.join(unknown)} (lists: {', '.join(known_lists)})")
        seat = cell("seat")
        if seat:
            for list_id in lists:
                other = seats.get((list_id, seat))
                if other is not None:
                    row_problems.append(f"seat {seat} on {list_id} already given on line {other}")
        photo, photo_type = None, None
        if cell("photo"):
            photo, photo_type, problem = _load_photo(cell("photo"), photo_dir)
            if problem:
                row_problems.append(problem)
        if row_problems:
            problems += [(line, p) for p in row_problems]
            continue
        first_line[attendee_id] = line
        for list_id in lists:
            if seat:
                seats[(list_id, seat)] = line
        rows.append(AttendeeRow(line, attendee_id, name, cell("organisation"), cell("title"), seat, lists,
                                flags["vip"], flags["blocked"], photo, photo_type))
    if problems:
        raise ImportRejected(source, problems)
    if not rows:
        raise ImportRejected(source, [(None, "no attendees in the file")])
    return rows


def _load_photo(name: str, photo_dir: Path | None) -> tuple[bytes | None, str | None, str | None]:
    if photo_dir is None or "/" in name or "\\" in name or name.startswith("."):
        return None, None, f"photo {name!r}: a file name in the photos folder"
    path = photo_dir / name
    try:
        data = path.read_bytes()
    except OSError:
        return None, None, f"photo {name} not found in {photo_dir}"
    if len(data) > MAX_PHOTO:
        return None, None, f"photo {name} is larger than {MAX_PHOTO // 1024} KiB"
    for magic, kind in PHOTO_TYPES.items():
        if data.startswith(magic):
            return data, kind, None
    return None, None, f"photo {name} is not a JPEG or PNG"


# --- event packs: what every kiosk of the event imports -----------------------------------

PACK_FORMAT = "roomctl-kiosk-pack"


def read_pack(path: Path, *, event_id: int, known_lists: list[str]) -> tuple[list[AttendeeRow], list[dict], list[dict]]:
    """(attendees with their refs, public keys, revocations) from an event pack."""
    source = str(path)
    try:
        pack = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImportRejected(source, [(None, f"not an event pack: {exc}")]) from None
    if not isinstance(pack, dict) or pack.get("format") != PACK_FORMAT or pack.get("version") != 1:
        raise ImportRejected(source, [(None, "not a roomctl event pack (version 1)")])
    if pack.get("event") != event_id:
        raise ImportRejected(source, [(None, f"a pack of event {pack.get('event')}, this kiosk is for {event_id}")])
    problems: list[tuple[int | None, str]] = []
    rows, seen_ids, seen_refs = [], set(), set()
    for i, item in enumerate(pack.get("attendees") or [], start=1):
        try:
            row = AttendeeRow(i, str(item["id"]), str(item["name"]), str(item.get("organisation", "")),
                              str(item.get("title", "")), str(item.get("seat", "")), tuple(item.get("lists") or ()),
                              bool(item.get("vip")), bool(item.get("blocked")),
                              base64.b64decode(item["photo"]) if item.get("photo") else None,
                              item.get("photo_type"), str(item["ref"]))
        except (KeyError, TypeError, ValueError) as exc:
            problems.append((i, f"attendee entry malformed: {exc}"))
            continue
        if not ID_RE.fullmatch(row.id) or row.id in seen_ids:
            problems.append((i, f"id {row.id!r} invalid or repeated"))
        if not is_ref(row.ref) or row.ref in seen_refs:
            problems.append((i, f"reference {row.ref!r} invalid or repeated"))
        if [x for x in row.lists if x not in known_lists]:
            problems.append((i, f"unknown list in {row.lists}"))
        seen_ids.add(row.id)
        seen_refs.add(row.ref)
        rows.append(row)
    keys = pack.get("keys") or []
    for key in keys:
        if not (isinstance(key, dict) and isinstance(key.get("id"), int) and key.get("state") in ("active", "verify", "retired")):
            problems.append((None, f"key entry malformed: {key!r}"[:120]))
    revoked = pack.get("revoked") or []
    for item in revoked:
        if not (isinstance(item, dict) and is_ref(str(item.get("ref", "")))):
            problems.append((None, f"revocation entry malformed: {item!r}"[:120]))
    if problems:
        raise ImportRejected(source, problems)
    return rows, keys, revoked


def write_pack(db: sqlite3.Connection, event_id: int) -> dict:
    members: dict[str, list[str]] = {}
    for attendee, list_id in db.execute("SELECT attendee, list FROM memberships ORDER BY attendee, list"):
        members.setdefault(attendee, []).append(list_id)
    attendees = []
    for row in db.execute("SELECT id, ref, name, organisation, title, seat, vip, blocked, photo, photo_type "
                          "FROM attendees ORDER BY id"):
        attendees.append({"id": row[0], "ref": row[1], "name": row[2], "organisation": row[3], "title": row[4],
                          "seat": row[5], "vip": bool(row[6]), "blocked": bool(row[7]), "lists": members.get(row[0], []),
                          "photo": base64.b64encode(row[8]).decode() if row[8] else None, "photo_type": row[9]})
    keys = [{"id": k, "public": base64.b64encode(p).decode(), "state": "verify" if s == "active" else s}
            for k, p, s in db.execute("SELECT key_id, public, state FROM badge_keys ORDER BY key_id")]
    revoked = [{"ref": r, "at": a, "reason": why} for r, a, why in db.execute("SELECT ref, at, reason FROM revoked")]
    return {"format": PACK_FORMAT, "version": 1, "event": event_id, "attendees": attendees, "keys": keys,
            "revoked": revoked}


# --- applying -------------------------------------------------------------------------


def apply_rows(db: sqlite3.Connection, rows: list[AttendeeRow]) -> ImportReport:
    """Upsert every row in the caller's transaction. Known ids keep their ref unless the pack gives one."""
    report = ImportReport(rows=rows)
    for row in rows:
        existing = db.execute("SELECT ref FROM attendees WHERE id = ?", (row.id,)).fetchone()
        ref = row.ref or (existing[0] if existing else new_ref())
        if existing:
            report.updated += 1
            db.execute("UPDATE attendees SET ref=?, name=?, organisation=?, title=?, seat=?, vip=?, blocked=?, "
                       "photo=COALESCE(?, photo), photo_type=COALESCE(?, photo_type), search=? WHERE id=?",
                       (ref, row.name, row.organisation, row.title, row.seat, int(row.vip), int(row.blocked),
                        row.photo, row.photo_type, search_key(row.name), row.id))
        else:
            report.added += 1
            db.execute("INSERT INTO attendees(id, ref, name, organisation, title, seat, vip, blocked, photo, "
                       "photo_type, search) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (row.id, ref, row.name, row.organisation, row.title, row.seat, int(row.vip), int(row.blocked),
                        row.photo, row.photo_type, search_key(row.name)))
        db.execute("DELETE FROM memberships WHERE attendee = ?", (row.id,))
        db.executemany("INSERT INTO memberships(attendee, list) VALUES (?, ?)", [(row.id, x) for x in row.lists])
        row.ref = ref
    return report
