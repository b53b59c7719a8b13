"""The check-in decision, as in pretix: verify → find → list and window → already in? → record.

Everything after the signature check happens in one transaction in the store's writer
thread, so two scans of one badge at this desk can never both pass, and the answer is
given only after the entry is committed. A scan repeated with the same nonce (a
page retrying after a timeout) gets the first answer again and records nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from kiosk.config import KioskConfig
from kiosk.errors import BadCode, InvalidRequest, RetiredKey, UnknownAttendee, UnknownKey
from kiosk.store import KioskStore
from kiosk.tokens import BadgeClaims, Keyring, KeyState

NONCE_MAX = 64


class Result(StrEnum):
    OK = "ok"
    ALREADY = "already_checked_in"
    INVALID = "invalid"
    REVOKED = "revoked"
    NOT_ON_LIST = "not_on_list"
    OUTSIDE_WINDOW = "outside_window"
    BLOCKED = "blocked"

    @property
    def colour(self) -> str:
        return {Result.OK: "green", Result.ALREADY: "amber"}.get(self, "red")


@dataclass
class AttendeeCard:
    """What the desk may show of the person in front of it."""

    ref: str
    name: str
    organisation: str
    title: str
    seat: str
    vip: bool
    has_photo: bool


@dataclass
class Decision:
    result: Result
    nonce: str
    list: str
    direction: str
    at: str
    kiosk: str
    source: str = "page"
    attendee: AttendeeCard | None = None
    previous: dict[str, str] | None = None  # already checked in: when and at which desk
    detail: str | None = None  # why a code is invalid
    late: bool = False
    repeated: bool = False  # the same nonce again: the first answer, nothing new recorded
    offline: bool = False
    override: str | None = None
    seq: int | None = None

    @property
    def accepted(self) -> bool:
        return self.result is Result.OK

    def view(self) -> dict[str, Any]:
        out = asdict(self)
        out["result"] = self.result.value
        out["colour"] = self.result.colour
        return out


@dataclass
class Entry:
    """One accepted scan in the replicated log."""

    origin: str
    seq: int
    nonce: str
    ref: str
    list: str
    direction: str
    at: str
    kiosk: str
    offline: bool = False
    reason: str | None = None
    staff: str | None = None

    def row(self) -> tuple:
        return (self.origin, self.seq, self.nonce, self.ref, self.list, self.direction, self.at, self.kiosk,
                int(self.offline), self.reason, self.staff)


ENTRY_COLUMNS = "origin, seq, nonce, ref, list, direction, at, kiosk, offline, reason, staff"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def validate_nonce(nonce: str) -> str:
    if not (0 < len(nonce) <= NONCE_MAX) or not nonce.isascii() or not nonce.replace("-", "").isalnum():
        raise InvalidRequest(f"a nonce is 1–{NONCE_MAX} letters, digits or dashes", "nonce")
    return nonce


def load_keyring(db: sqlite3.Connection, event_id: int) -> Keyring:
    keyring = Keyring(event_id)
    for key_id, public, private, state in db.execute("SELECT key_id, public, private, state FROM badge_keys"):
        keyring.add(key_id, public, KeyState(state), private)
    return keyring


class CheckinEngine:
    def __init__(self, store: KioskStore, config: KioskConfig, keyring: Keyring, origin: str,
                 now: Callable[[], datetime]) -> None:
        self.store = store
        self.config = config
        self.keyring = keyring
        self.origin = origin
        self.now = now

    # --- scans --------------------------------------------------------------------

    async def decide(self, code: str, *, nonce: str, source: str = "page", list_id: str | None = None,
                     direction: str = "in", offline: bool = False) -> Decision:
        validate_nonce(nonce)
        list_id = self._list(list_id)
        if direction not in ("in", "out"):
            raise InvalidRequest("direction is in or out", "direction")
        # The signature is checked here, on the loop, while the writer may be committing others.
        claims: BadgeClaims | None = None
        problem: BadCode | None = None
        try:
            claims = self.keyring.verify(code)
        except BadCode as exc:
            problem = exc
        at = iso(self.now())
        return await self.store.write(
            lambda db: self._decide(db, claims, problem, nonce, source, list_id, direction, at, offline))

    def _decide(self, db, claims, problem, nonce, source, list_id, direction, at, offline) -> Decision:
        base = dict(nonce=nonce, list=list_id, direction=direction, at=at, kiosk=self.config.id, source=source,
                    offline=offline)
        repeat = self._repeat(db, nonce, claims.ref if claims else None)
        if repeat is not None:
            return repeat
        if problem is not None:
            detail = "retired key" if isinstance(problem, RetiredKey) else \
                "unknown key" if isinstance(problem, UnknownKey) else problem.reason
            return self._journal(db, Decision(Result.INVALID, detail=detail, **base))
        if db.execute("SELECT 1 FROM revoked WHERE ref = ?", (claims.ref,)).fetchone():
            return self._journal(db, Decision(Result.REVOKED, attendee=None, detail="revoked badge", **base),
                                 ref=claims.ref)
        card, blocked = self._card(db, "ref", claims.ref)
        if card is None:
            return self._journal(db, Decision(Result.INVALID, detail="not registered for this event", **base),
                                 ref=claims.ref)
        decision = Decision(Result.OK, attendee=card, **base)
        if blocked:
            decision.result = Result.BLOCKED
        elif direction == "in" and (previous := self._inside(db, card.ref, list_id)) is not None:
            decision.result = Result.ALREADY  # inside already (perhaps let in by a supervisor): say when and where
            decision.previous = previous
        elif not db.execute("SELECT 1 FROM memberships m JOIN attendees a ON a.id = m.attendee "
                            "WHERE a.ref = ? AND m.list = ?", (card.ref, list_id)).fetchone():
            decision.result = Result.NOT_ON_LIST
        elif direction == "in" and not self._window_open(list_id, at):
            decision.result = Result.OUTSIDE_WINDOW
        else:
            self._record(db, decision, card.ref)
        return self._journal(db, decision, ref=card.ref)

    # --- staff --------------------------------------------------------------------

    async def override(self, *, attendee_id: str | None = None, code: str | None = None, nonce: str, reason: str,
                       staff: str, list_id: str | None = None, direction: str = "in", offline: bool = False) -> Decision:
        """Sign someone in past a refusal (not on the list, outside the window, blocked, no badge)."""
        validate_nonce(nonce)
        list_id = self._list(list_id)
        reason = reason.strip()
        if not reason or len(reason) > 200:
            raise InvalidRequest("an override needs a reason (at most 200 characters)", "reason")
        ref = None
        if code is not None:
            ref = self.keyring.verify(code).ref  # a forged code is not overridden: find the person by name instead
        elif attendee_id is None:
            raise InvalidRequest("name the attendee or give their code", "attendee_id")
        at = iso(self.now())

        def run(db) -> Decision:
            repeat = self._repeat(db, nonce, None)
            if repeat is not None:
                return repeat
            card, _ = self._card(db, "ref", ref) if ref else self._card(db, "id", attendee_id)
            if card is None:
                raise UnknownAttendee(attendee_id or "?")
            decision = Decision(Result.OK, nonce=nonce, list=list_id, direction=direction, at=at, kiosk=self.config.id,
                                source="staff", attendee=card, override=reason, offline=offline)
            if direction == "in" and (previous := self._inside(db, card.ref, list_id)) is not None:
                decision.result, decision.previous, decision.override = Result.ALREADY, previous, None
            else:
                self._record(db, decision, card.ref, reason=reason, staff=staff)
            return self._journal(db, decision, ref=card.ref)

        return await self.store.write(run)

    # --- pieces run in the writer thread ----------------------------------------------

    def _repeat(self, db, nonce: str, ref: str | None) -> Decision | None:
        row = db.execute(f"SELECT {ENTRY_COLUMNS} FROM checkins WHERE origin = ? AND nonce = ?",
                         (self.origin, nonce)).fetchone()
        if row is None:
            return None
        entry = Entry(*row)
        if ref is not None and entry.ref != ref:
            raise InvalidRequest("this nonce was used for another badge", "nonce")
        card, _ = self._card(db, "ref", entry.ref)
        return Decision(Result.OK, nonce=nonce, list=entry.list, direction=entry.direction, at=entry.at,
                        kiosk=entry.kiosk, attendee=card, repeated=True, offline=bool(entry.offline),
                        override=entry.reason, seq=entry.seq, late=self._late(entry.list, entry.at))

    def _card(self, db, column: str, value: str) -> tuple[AttendeeCard | None, bool]:
        row = db.execute(f"SELECT ref, name, organisation, title, seat, vip, photo IS NOT NULL, blocked "
                         f"FROM attendees WHERE {column} = ?", (value,)).fetchone()
        if row is None:
            return None, False
        return AttendeeCard(row[0], row[1], row[2], row[3], row[4], bool(row[5]), bool(row[6])), bool(row[7])

    def _inside(self, db, ref: str, list_id: str) -> dict[str, str] | None:
        """When and where this person went in, if their latest scan on the list is an entry."""
        row = db.execute("SELECT direction, at, kiosk FROM checkins WHERE ref = ? AND list = ? "
                         "ORDER BY at DESC, origin DESC, seq DESC LIMIT 1", (ref, list_id)).fetchone()
        if row is None or row[0] != "in":
            return None
        return {"at": row[1], "kiosk": row[2]}

    def _record(self, db, decision: Decision, ref: str, *, reason: str | None = None, staff: str | None = None) -> None:
        seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM checkins WHERE origin = ?", (self.origin,)).fetchone()[0]
        entry = Entry(self.origin, seq, decision.nonce, ref, decision.list, decision.direction, decision.at,
                      decision.kiosk, decision.offline, reason, staff)
        db.execute(f"INSERT INTO checkins({ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", entry.row())
        decision.seq = seq
        decision.late = decision.direction == "in" and self._late(decision.list, decision.at)
        if decision.direction == "out":
            recheck_conflicts(db, ref, decision.list)  # an exit between two entries is no conflict

    def _journal(self, db, decision: Decision, ref: str | None = None) -> Decision:
        """Refusals go to the scans journal; accepted scans are in the log already (one row written per check-in)."""
        if decision.seq is not None:
            return decision
        db.execute("INSERT INTO scans(at, kiosk, source, result, ref, list, direction, detail) VALUES (?,?,?,?,?,?,?,?)",
                   (decision.at, decision.kiosk, decision.source, decision.result.value, ref, decision.list,
                    decision.direction, decision.override or decision.detail))
        return decision

    # --- lists --------------------------------------------------------------------

    def _list(self, list_id: str | None) -> str:
        list_id = list_id or self.config.default_list
        try:
            self.config.list_config(list_id)
        except KeyError:
            raise InvalidRequest(f"no list {list_id!r}", "list") from None
        return list_id

    def _window_open(self, list_id: str, at: str) -> bool:
        cfg = self.config.list_config(list_id)
        return (cfg.opens is None or at >= iso(cfg.opens)) and (cfg.closes is None or at <= iso(cfg.closes))

    def _late(self, list_id: str, at: str) -> bool:
        starts = self.config.list_config(list_id).starts
        return starts is not None and at > iso(starts)


# --- the replicated log ------------------------------------------------------------------


@dataclass
class Applied:
    """What a batch of replicated entries changed here."""

    new: list[Entry] = field(default_factory=list)
    contiguous: int = 0
    conflicts_changed: bool = False


def apply_entries(db: sqlite3.Connection, origin: str, entries: list[Entry]) -> Applied:
    """Insert another desk's entries (idempotent), advance its contiguous mark, re-check conflicts.

    Replication runs on every desk for every other desk's check-in, so this is the
    fleet's hot path: one statement per new entry, one for the contiguous mark, one
    per (person, list) touched.
    """
    applied = Applied()
    insert = f"INSERT INTO checkins({ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(origin, seq) DO NOTHING"
    for entry in entries:
        try:
            inserted = db.execute(insert, entry.row()).rowcount == 1
        except sqlite3.IntegrityError:  # UNIQUE (origin, nonce): the nonce names another of that log's entries
            raise InvalidRequest(f"{origin} #{entry.seq} reuses a nonce of another entry", "entries") from None
        if inserted:
            applied.new.append(entry)
            continue
        existing = db.execute("SELECT nonce, ref, list, direction, at FROM checkins WHERE origin = ? AND seq = ?",
                              (origin, entry.seq)).fetchone()
        if tuple(existing) != (entry.nonce, entry.ref, entry.list, entry.direction, entry.at):
            raise InvalidRequest(f"{origin} #{entry.seq} differs from the copy already held", "entries")
    row = db.execute("SELECT contiguous FROM replicas WHERE origin = ?", (origin,)).fetchone()
    contiguous = row[0] if row else 0
    # The held seqs past the mark, in order: the mark moves over every one without a gap.
    for (seq,) in db.execute("SELECT seq FROM checkins WHERE origin = ? AND seq > ? ORDER BY seq",
                             (origin, contiguous)):
        if seq != contiguous + 1:
            break
        contiguous = seq
    if row is None or contiguous != row[0]:
        db.execute("INSERT INTO replicas(origin, contiguous) VALUES (?, ?) "
                   "ON CONFLICT(origin) DO UPDATE SET contiguous = excluded.contiguous", (origin, contiguous))
    applied.contiguous = contiguous
    for ref, list_id in {(e.ref, e.list) for e in applied.new}:
        applied.conflicts_changed |= recheck_conflicts(db, ref, list_id)
    return applied


def recheck_conflicts(db: sqlite3.Connection, ref: str, list_id: str) -> bool:
    """Two desks let the same person in with no exit between: a conflict for staff. So is an
    entry on a badge already revoked (at a desk that did not know yet): a conflict of the
    entry with itself (first = second).

    Computed from the set of entries and revocations alone, in a fixed order, so every desk
    that holds the same ones flags the same conflicts, whatever order they arrived in.
    """
    rows = db.execute("SELECT origin, seq, direction, at FROM checkins WHERE ref = ? AND list = ? "
                      "ORDER BY at, origin, seq", (ref, list_id)).fetchall()
    revoked = db.execute("SELECT at FROM revoked WHERE ref = ?", (ref,)).fetchone()
    if len(rows) < 2 and revoked is None:
        return False  # one entry conflicts with nothing, and entries are never removed: none was flagged before
    found: list[tuple] = []
    inside: tuple[str, int] | None = None
    for origin, seq, direction, at in rows:
        if direction == "out":
            inside = None
            continue
        if inside is None:
            inside = (origin, seq)
        elif inside[0] != origin:
            found.append((ref, list_id, inside[0], inside[1], origin, seq))
            continue
        if revoked is not None and at >= revoked[0]:
            found.append((ref, list_id, origin, seq, origin, seq))
    before = db.execute("SELECT ref, list, first_origin, first_seq, second_origin, second_seq FROM conflicts "
                        "WHERE ref = ? AND list = ? ORDER BY second_origin, second_seq", (ref, list_id)).fetchall()
    if sorted(map(tuple, before)) == sorted(found):
        return False
    db.execute("DELETE FROM conflicts WHERE ref = ? AND list = ?", (ref, list_id))
    db.executemany("INSERT INTO conflicts VALUES (?,?,?,?,?,?)", found)
    return True
