"""One sign-in desk: its store, decision engine, scanners, replication and live pages.

Started by the controller when the site config has a ``kiosk:`` section. Scans from
the desk's scanners are decided here and their results pushed to the desk's kiosk
pages; staff pages and the big screen are told when counts change.

The key ring the desk checks badges with follows its store while it runs: keys and
revocations that arrive from other desks, and those `roomctl kiosk keys|revoke|import`
writes into the store (noticed within BADGE_POLL), take effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from drivers.transports.mqtt import BrokerSettings, MqttConnection
from kiosk import reports
from kiosk.checkin import Applied, CheckinEngine, Decision, Entry, iso, load_keyring
from kiosk.config import KioskConfig, pin_matches
from kiosk.errors import InvalidRequest, PinRejected, UnknownAttendee
from kiosk.scanners.hid import HidScanner
from kiosk.scanners.serial import SerialScanner
from kiosk.store import KioskStore
from kiosk.sync import BADGE_POLL, REASON_MAX, BadgeChange, BadgeLedger, Replicator, Revocation
from kiosk.tokens import new_ref

log = logging.getLogger(__name__)

# Wrong PINs in a row before the desk stops taking PINs for a while.
PIN_ATTEMPTS = 5
PIN_LOCKOUT = 30.0  # seconds
# Staff pages and the big screen refresh on change, at most this often.
CHANGE_COALESCE = 0.25
LISTENER_QUEUE = 200


@dataclasses.dataclass(eq=False)
class Listener:
    role: str
    queue: asyncio.Queue = dataclasses.field(default_factory=lambda: asyncio.Queue(LISTENER_QUEUE))

    def offer(self, message: dict) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()  # a page that stopped reading loses its oldest news, not ours
        self.queue.put_nowait(message)


class KioskService:
    def __init__(self, config: KioskConfig, *, site: str, store_path: str | Path,
                 now: Callable[[], datetime] | None = None, broker: BrokerSettings | None = None) -> None:
        self.config = config
        self.site = site
        self.store = KioskStore(store_path, durability=config.durability)
        self.badges = BadgeLedger(self.store)
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.broker = broker
        self.engine: CheckinEngine | None = None
        self.replicator: Replicator | None = None
        self.mqtt: MqttConnection | None = None
        self.scanners: list[HidScanner | SerialScanner] = []
        self.listeners: set[Listener] = set()
        self.origin = ""
        self._pin_failures = 0
        self._pin_locked_until = 0.0
        self._change_pending = False
        self._tasks: set[asyncio.Task] = set()
        self._badge_watch: asyncio.Task | None = None

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        epoch, keyring = await self.store.read(lambda db: (
            db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0], load_keyring(db, self.config.event)))
        self.origin = f"{self.config.id}.{epoch}"
        self.engine = CheckinEngine(self.store, self.config, keyring, self.origin, self.now)
        await self.badges.load()
        if self.config.sync and self.broker is not None:
            settings = dataclasses.replace(self.broker, client_id=f"kiosk-{self.config.id}-{epoch}",
                                           availability_topic=None)
            self.mqtt = MqttConnection(settings)
            self.replicator = Replicator(
                site=self.site, kiosk_id=self.config.id, origin=self.origin,
                secret=self.config.sync_secret.get_secret_value().encode(), store=self.store, connection=self.mqtt,
                known_lists={item.id for item in self.config.lists}, on_applied=self._replicated,
                ledger=self.badges, on_badges=self._badges_changed)
            await self.replicator.start()
            # Kiosk pages show a banner while the desk decides alone.
            self.mqtt.add_connection_listener(
                lambda connected: self._broadcast({"type": "link", "offline": not connected}, roles=("kiosk",)))
        for scanner in self.config.scanners:
            if scanner.kind == "serial":
                reader = SerialScanner(scanner.id, scanner.port, self._scanned, baudrate=scanner.baudrate)
            else:
                reader = HidScanner(scanner.id, scanner.name, self._scanned)
            reader.start()
            self.scanners.append(reader)
        self._badge_watch = asyncio.create_task(self._watch_badges(), name=f"kiosk {self.config.id} badges")
        log.info("kiosk %s: log %s, %d scanner(s), sync %s", self.config.id, self.origin, len(self.scanners),
                 "on" if self.replicator else "off")

    async def stop(self) -> None:
        if self._badge_watch is not None:
            self._badge_watch.cancel()
            await asyncio.gather(self._badge_watch, return_exceptions=True)
        for scanner in self.scanners:
            await scanner.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.replicator is not None:
            await self.replicator.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()
        await self.store.close()

    async def reload_keys(self) -> None:
        self.engine.keyring = await self.store.read(lambda db: load_keyring(db, self.config.event))

    # --- which badges count -----------------------------------------------------------

    async def revoke(self, *, pin: str, attendee_id: str, reason: str, reissue: bool = False) -> Revocation:
        """Cancel an attendee's badge (lost, stolen) from this desk: refused here at once, at the
        other desks as soon as they hear it. With ``reissue`` the attendee gets a new reference
        (a new badge is printed where the signing key is)."""
        self.check_pin(pin)
        reason = reason.strip()
        if not reason or len(reason) > REASON_MAX:
            raise InvalidRequest(f"a revocation needs a reason (at most {REASON_MAX} characters)", "reason")
        row = await self.store.read(lambda db: db.execute("SELECT ref FROM attendees WHERE id = ?",
                                                          (attendee_id,)).fetchone())
        if row is None:
            raise UnknownAttendee(attendee_id)
        revocation = Revocation(row[0], iso(self.now()), reason, new_ref() if reissue else None)
        change = await self.badges.merge([revocation], [])
        self._badges_changed(change, made_here=True)
        log.info("kiosk %s: badge %s revoked (%s)%s", self.config.id, revocation.ref, reason,
                 f", reissued as {revocation.reissued}" if reissue else "")
        return self.badges.revoked[revocation.ref]

    async def _watch_badges(self) -> None:
        """Changes another process made to the store (`roomctl kiosk revoke|keys|import`): take them up, pass them on."""
        while True:
            await asyncio.sleep(BADGE_POLL)
            try:
                change = await self.badges.refresh()
            except sqlite3.Error as exc:  # a store busy past its timeout: look again next time
                log.warning("kiosk %s: reading revocations and keys: %s", self.config.id, exc)
                continue
            if change.changed:
                self._badges_changed(change, made_here=True)

    def _badges_changed(self, change: BadgeChange, made_here: bool = False) -> None:
        if change.keys:
            self._spawn(self.reload_keys())
            log.info("kiosk %s: keys now %s", self.config.id,
                     ", ".join(f"{k.key_id}{' (retired)' if k.retired else ''}" for k in self.badges.keys.values()))
        if made_here and self.replicator is not None:
            self.replicator.publish_badges(change)
        self._changed()

    @property
    def offline(self) -> bool:
        """Deciding alone: sync is on but the broker is out of reach."""
        return self.replicator is not None and not self.replicator.connected

    # --- scans --------------------------------------------------------------------

    async def scan(self, code: str, *, nonce: str, source: str = "page", list_id: str | None = None,
                   direction: str = "in") -> Decision:
        if len(code) > 4096:
            code = code[:4096]  # still far too long for a badge: answered invalid, never stored
        decision = await self.engine.decide(code, nonce=nonce, source=source, list_id=list_id, direction=direction,
                                            offline=self.offline)
        self._after(decision)
        return decision

    def _scanned(self, code: str, scanner_id: str) -> None:
        """A code from one of this desk's scanners: decide, then show it on the desk's kiosk pages."""
        arrived = time.time()
        scanner = next(s for s in self.config.scanners if s.id == scanner_id)

        async def decide() -> None:
            try:
                decision = await self.scan(code, nonce=uuid.uuid4().hex, source=f"scanner:{scanner_id}",
                                           list_id=scanner.list, direction=scanner.direction)
            except Exception:
                log.exception("kiosk %s: a scan from %s failed", self.config.id, scanner_id)
                self._broadcast({"type": "error", "message": "scan failed"}, roles=("kiosk",))
                return
            self._broadcast({"type": "result", "arrived": arrived, "decision": decision.view()}, roles=("kiosk",))

        self._spawn(decide())

    # --- staff --------------------------------------------------------------------

    def check_pin(self, pin: str) -> None:
        now = time.monotonic()
        if now < self._pin_locked_until:
            raise PinRejected(self._pin_locked_until - now)
        if pin_matches(self.config.supervisor_pin.get_secret_value(), pin or ""):
            self._pin_failures = 0
            return
        self._pin_failures += 1
        if self._pin_failures >= PIN_ATTEMPTS:
            self._pin_failures = 0
            self._pin_locked_until = now + PIN_LOCKOUT
            raise PinRejected(PIN_LOCKOUT)
        raise PinRejected()

    async def override(self, *, pin: str, staff: str, nonce: str, reason: str, attendee_id: str | None = None,
                       code: str | None = None, list_id: str | None = None, direction: str = "in") -> Decision:
        self.check_pin(pin)
        decision = await self.engine.override(attendee_id=attendee_id, code=code, nonce=nonce, reason=reason,
                                              staff=staff, list_id=list_id, direction=direction, offline=self.offline)
        self._after(decision, staff=staff)
        return decision

    def _after(self, decision: Decision, staff: str | None = None) -> None:
        ref = decision.attendee.ref if decision.attendee else None
        log.info("kiosk %s: %s %s ref=%s list=%s%s", self.config.id, decision.direction, decision.result.value, ref,
                 decision.list, " (repeat)" if decision.repeated else "")
        if not decision.accepted or decision.repeated:
            self._changed()
            return
        entry = Entry(self.origin, decision.seq, decision.nonce, ref, decision.list, decision.direction, decision.at,
                      decision.kiosk, decision.offline, decision.override, staff)
        if self.replicator is not None:
            self.replicator.committed(entry)
        if decision.attendee.vip and decision.direction == "in":
            self._vip_arrived(decision.attendee.name, decision.attendee.seat, decision.at, decision.kiosk)
        self._changed()

    def _replicated(self, applied: Applied) -> None:
        refs = [e for e in applied.new if e.direction == "in"]
        if refs:
            self._spawn(self._announce_vips(refs))
        self._changed()

    async def _announce_vips(self, entries: list[Entry]) -> None:
        def vips(db):
            marks = ",".join("?" * len(entries))
            rows = db.execute(f"SELECT ref, name, seat FROM attendees WHERE vip = 1 AND ref IN ({marks})",
                              [e.ref for e in entries]).fetchall()
            return {ref: (name, seat) for ref, name, seat in rows}

        found = await self.store.read(vips)
        for entry in entries:
            if entry.ref in found:
                self._vip_arrived(*found[entry.ref], entry.at, entry.kiosk)

    def _vip_arrived(self, name: str, seat: str, at: str, kiosk: str) -> None:
        self._broadcast({"type": "vip", "name": name, "seat": seat, "kiosk": kiosk,
                         "at": reports.local_time(at, self.config.timezone)}, roles=("staff",))

    # --- reading --------------------------------------------------------------------

    async def search(self, query: str) -> list[dict[str, str]]:
        if len(query) > 100:
            raise InvalidRequest("a name is shorter than that", "q")
        return await self.store.read(lambda db: reports.search(db, query, self.config.search_min_chars))

    async def staff_view(self) -> dict[str, Any]:
        view = await self.store.read(lambda db: reports.staff_view(db, self.config))
        view["kiosk"] = self.config.id
        view["sync"] = self.replicator.view() if self.replicator else {"connected": None}
        view["badges"] = self.badges.view()
        for conflict in view["conflicts"]:
            conflict["revoked"] = conflict["ref"] in self.badges.revoked  # let in on a badge since revoked
        view["scanners"] = [{"id": s.id, "status": s.status.value, "reason": s.reason} for s in self.scanners]
        return view

    async def screen_view(self, list_id: str | None = None) -> dict[str, Any]:
        list_id = list_id or self.config.default_list
        try:
            cfg = self.config.list_config(list_id)
        except KeyError:
            raise InvalidRequest(f"no list {list_id!r}", "list") from None
        counts, seats = await self.store.read(
            lambda db: (next(c for c in reports.counts(db, self.config) if c["list"] == list_id),
                        reports.seat_map(db, list_id)))
        return {"list": list_id, "name": cfg.name, "counts": counts, "rows": seats}

    async def export(self, kind: str) -> bytes:
        build = {"csv": reports.sheet_csv, "xlsx": reports.sheet_xlsx}[kind]
        return await self.store.read(lambda db: build(db, self.config))

    async def attendees(self) -> list[dict[str, Any]]:
        def rows(db):
            return [{"id": r[0], "ref": r[1], "name": r[2], "organisation": r[3], "title": r[4], "seat": r[5],
                     "vip": bool(r[6]), "blocked": bool(r[7])}
                    for r in db.execute("SELECT id, ref, name, organisation, title, seat, vip, blocked FROM attendees "
                                        "ORDER BY id")]
        return await self.store.read(rows)

    async def photo(self, ref: str) -> tuple[bytes, str] | None:
        row = await self.store.read(lambda db: db.execute(
            "SELECT photo, photo_type FROM attendees WHERE ref = ? AND photo IS NOT NULL", (ref,)).fetchone())
        return (row[0], row[1]) if row else None

    # --- live pages -----------------------------------------------------------------

    def listen(self, page: str) -> Listener:
        """News for one open page: ``kiosk`` (results of this desk's scanners), ``staff``, ``screen``."""
        listener = Listener(page)
        self.listeners.add(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def _broadcast(self, message: dict, roles: tuple[str, ...]) -> None:
        for listener in list(self.listeners):
            if listener.role in roles:
                listener.offer(message)

    def _changed(self) -> None:
        if self._change_pending:
            return
        self._change_pending = True

        def send() -> None:
            self._change_pending = False
            self._broadcast({"type": "changed"}, roles=("staff", "screen"))

        asyncio.get_running_loop().call_later(CHANGE_COALESCE, send)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
