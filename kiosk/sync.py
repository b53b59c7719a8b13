"""Kiosks share their check-ins over the site's MQTT broker.

Each desk keeps its own durable log (origin = desk id + the log's random epoch, so a
desk whose disk was replaced starts a new log instead of clashing with its old one)
and a replica of every other desk's. Topics (QoS 1), JSON, each message HMAC-SHA256
signed with the site's kiosk secret:

    roomctl/<site>/kiosks/<desk>/checkins   {"type": "entries", "origin", "entries": [...]}
                                            {"type": "head", "origin", "seq"}   the desk's latest seq
    roomctl/<site>/kiosks/<desk>/resend     {"type": "resend", "origin", "from"}   asks <desk> to send again

A desk publishes each accepted scan once it is committed, and its head on connect and
every HEAD_INTERVAL. A desk that sees a head beyond what it holds, or a gap in what
arrives, asks the owner to resend from its first missing entry. So whatever was lost —
a desk cut off, a broker restarted with no memory, a message dropped — is filled in
within a head interval of the link coming back. Applying is idempotent by (origin, seq):
a replayed message changes nothing; an altered one fails its signature and is dropped
whole. Messages carry attendee references, never names.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from drivers.errors import DeviceError
from drivers.transports.base import Message
from drivers.transports.mqtt import MqttConnection
from kiosk.checkin import ENTRY_COLUMNS, Applied, Entry, apply_entries
from kiosk.errors import KioskError, SyncRejected
from kiosk.store import KioskStore
from kiosk.tokens import is_ref

log = logging.getLogger(__name__)

VERSION = 1
# How often a desk announces its head: the longest a lost message stays missing elsewhere.
HEAD_INTERVAL = 1.0
# A resend request not yet answered is not repeated sooner than this.
RESEND_BACKOFF = 0.5
# Entries per message: a burst or a catch-up goes out in messages of at most this many.
BATCH = 500
MAX_MESSAGE = 1_000_000  # bytes; a catch-up batch of 500 entries is ~100 kB
ORIGIN_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.[0-9a-f]{8}")
NONCE_RE = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass
class SyncStats:
    published: int = 0
    applied: int = 0
    rejected: int = 0
    resend_requests: int = 0
    last_rejection: str | None = None


class Replicator:
    def __init__(self, *, site: str, kiosk_id: str, origin: str, secret: bytes, store: KioskStore,
                 connection: MqttConnection, known_lists: set[str],
                 on_applied: Callable[[Applied], None] = lambda applied: None,
                 head_interval: float = HEAD_INTERVAL) -> None:
        self.site = site
        self.kiosk_id = kiosk_id
        self.origin = origin
        self.secret = secret
        self.store = store
        self.connection = connection
        self.known_lists = known_lists
        self.on_applied = on_applied
        self.head_interval = head_interval
        self.stats = SyncStats()
        self.peers: dict[str, dict] = {}  # origin → {"kiosk", "head", "contiguous", "seen"}
        self._outbox: list[Entry] = []
        self._flush_scheduled = False
        self._asked: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()
        self._heartbeat: asyncio.Task | None = None
        self._routes = []
        self._head = 0

    # --- topics ---------------------------------------------------------------------

    def topic(self, kiosk: str, kind: str) -> str:
        return f"roomctl/{self.site}/kiosks/{kiosk}/{kind}"

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._head = await self.store.read(
            lambda db: db.execute("SELECT COALESCE(MAX(seq), 0) FROM checkins WHERE origin = ?", (self.origin,)).fetchone()[0])
        for origin, contiguous in await self.store.read(lambda db: db.execute("SELECT origin, contiguous FROM replicas").fetchall()):
            self.peers[origin] = {"kiosk": origin.rsplit(".", 1)[0], "head": contiguous, "contiguous": contiguous, "seen": None}
        self.connection.add_connection_listener(self._on_connection)
        await self.connection.start()
        self._heartbeat = asyncio.create_task(self._beat(), name="kiosk sync heads")
        if self.connection.connected:
            await self._subscribe()

    async def stop(self) -> None:
        self.connection.remove_connection_listener(self._on_connection)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for task in list(self._tasks) + ([self._heartbeat] if self._heartbeat else []):
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._heartbeat] if self._heartbeat else []), return_exceptions=True)
        for route in self._routes:
            self.connection.unsubscribe(route)
        self._routes = []

    @property
    def connected(self) -> bool:
        return self.connection.connected

    def _on_connection(self, connected: bool) -> None:
        if connected:
            self._spawn(self._subscribe())

    async def _subscribe(self) -> None:
        try:
            if not self._routes:
                self._routes = [
                    await self.connection.subscribe(self.topic("+", "checkins"), self._received),
                    await self.connection.subscribe(self.topic(self.kiosk_id, "resend"), self._received),
                ]
            self._publish_head()
        except DeviceError as exc:
            log.warning("kiosk sync: %s", exc)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.head_interval)
            if self.connection.connected:
                self._publish_head()
                for origin, peer in self.peers.items():
                    if peer["head"] > peer["contiguous"]:
                        self._ask(origin, peer["kiosk"], peer["contiguous"] + 1)

    # --- out ------------------------------------------------------------------------

    def committed(self, entry: Entry) -> None:
        """A local entry is on disk: send it (with whatever else this loop turn committed)."""
        self._head = max(self._head, entry.seq)
        self._outbox.append(entry)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        entries, self._outbox = self._outbox, []
        if not self.connection.connected:
            return  # peers will ask for these by our head once the link is back
        for i in range(0, len(entries), BATCH):
            self._send_entries(entries[i:i + BATCH])

    def _send_entries(self, entries: list[Entry]) -> None:
        body = {"type": "entries", "origin": self.origin,
                "entries": [[e.seq, e.nonce, e.ref, e.list, e.direction, e.at, int(e.offline), e.reason, e.staff]
                            for e in entries]}
        if self._publish(self.topic(self.kiosk_id, "checkins"), body):
            self.stats.published += len(entries)

    def _publish_head(self) -> None:
        self._publish(self.topic(self.kiosk_id, "checkins"), {"type": "head", "origin": self.origin, "seq": self._head})

    def _publish(self, topic: str, body: dict) -> bool:
        body = {"v": VERSION, "site": self.site, "kiosk": self.kiosk_id, **body}
        try:
            self.connection.publish_nowait(topic, self._sign(body), qos=1)
            return True
        except DeviceError:
            return False  # not connected: heads and resend requests fill it in later

    def _ask(self, origin: str, kiosk: str, first: int) -> None:
        now = time.monotonic()
        if now - self._asked.get(origin, 0.0) < RESEND_BACKOFF:
            return
        self._asked[origin] = now
        self.stats.resend_requests += 1
        self._publish(self.topic(kiosk, "resend"), {"type": "resend", "origin": origin, "from": first})

    # --- signing --------------------------------------------------------------------

    def _sign(self, body: dict) -> bytes:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        mac = hmac.new(self.secret, canonical, hashlib.sha256).hexdigest()
        return json.dumps({**body, "mac": mac}, separators=(",", ":"), ensure_ascii=False).encode()

    def verify(self, message: Message) -> dict:
        """The message's body if it is authentic and well formed; SyncRejected otherwise."""
        if len(message.payload) > MAX_MESSAGE:
            raise SyncRejected("message too large", message.topic)
        try:
            body = json.loads(message.payload)
        except (ValueError, UnicodeDecodeError):
            raise SyncRejected("not JSON", message.topic) from None
        if not isinstance(body, dict) or not isinstance(body.get("mac"), str):
            raise SyncRejected("not a signed kiosk message", message.topic)
        mac = body.pop("mac")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if not hmac.compare_digest(mac, hmac.new(self.secret, canonical, hashlib.sha256).hexdigest()):
            raise SyncRejected("bad signature: altered, or signed with another secret", message.topic)
        parts = message.topic.split("/")
        origin = body.get("origin")
        if not isinstance(origin, str) or not ORIGIN_RE.fullmatch(origin):
            raise SyncRejected("bad origin", message.topic)
        # checkins: the desk publishes its own log on its own topic; resend: asks the log's owner on the owner's topic
        owner = origin.rsplit(".", 1)[0]
        expected = ("checkins", body.get("kiosk")) if body.get("type") in ("entries", "head") else ("resend", owner)
        if body.get("v") != VERSION or body.get("site") != self.site or len(parts) != 5 \
                or (parts[4], parts[3]) != expected or owner != parts[3]:
            raise SyncRejected("site, desk, kind or version does not match the topic", message.topic)
        return body

    # --- in -------------------------------------------------------------------------

    def _received(self, message: Message) -> None:
        try:
            body = self.verify(message)
        except SyncRejected as exc:
            self.stats.rejected += 1
            self.stats.last_rejection = exc.reason
            log.warning("kiosk sync rejected a message: %s", exc)
            return
        kind = body.get("type")
        if kind == "resend":
            if body["origin"] == self.origin and isinstance(body.get("from"), int) and body["from"] >= 1:
                self._spawn(self._resend(body["from"]))
            return
        if body["origin"] == self.origin:
            return  # our own messages, back from the broker
        if kind == "head" and isinstance(body.get("seq"), int):
            peer = self._peer(body["origin"], body["kiosk"])
            peer["head"] = max(peer["head"], body["seq"])
            peer["seen"] = time.time()
            if peer["head"] > peer["contiguous"]:
                self._ask(body["origin"], body["kiosk"], peer["contiguous"] + 1)
        elif kind == "entries":
            try:
                entries = self._entries(body, message.topic)
            except SyncRejected as exc:
                self.stats.rejected += 1
                self.stats.last_rejection = exc.reason
                log.warning("kiosk sync rejected a message: %s", exc)
                return
            self._spawn(self._apply(body["origin"], body["kiosk"], entries, message.topic))

    def _peer(self, origin: str, kiosk: str) -> dict:
        return self.peers.setdefault(origin, {"kiosk": kiosk, "head": 0, "contiguous": 0, "seen": None})

    def _entries(self, body: dict, topic: str) -> list[Entry]:
        items = body.get("entries")
        if not isinstance(items, list) or not 0 < len(items) <= BATCH:
            raise SyncRejected("entries: a list of 1–500", topic)
        entries = []
        for item in items:
            try:
                seq, nonce, ref, list_id, direction, at, offline, reason, staff = item
                datetime.fromisoformat(at)
                well_formed = (isinstance(seq, int) and seq >= 1 and isinstance(nonce, str) and NONCE_RE.fullmatch(nonce)
                               and isinstance(ref, str) and is_ref(ref) and isinstance(list_id, str)
                               and list_id in self.known_lists and direction in ("in", "out") and offline in (0, 1)
                               and (reason is None or isinstance(reason, str) and len(reason) <= 200)
                               and (staff is None or isinstance(staff, str) and len(staff) <= 100))
            except (TypeError, ValueError):
                well_formed = False
            if not well_formed:
                raise SyncRejected("a malformed entry", topic)
            entries.append(Entry(body["origin"], seq, nonce, ref, list_id, direction, at, body["kiosk"], bool(offline),
                                 reason, staff))
        return entries

    async def _apply(self, origin: str, kiosk: str, entries: list[Entry], topic: str) -> None:
        try:
            applied = await self.store.write(lambda db: apply_entries(db, origin, entries))
        except KioskError as exc:
            self.stats.rejected += 1
            self.stats.last_rejection = str(exc)
            log.warning("kiosk sync: %s: %s", topic, exc)
            return
        self.stats.applied += len(applied.new)
        peer = self._peer(origin, kiosk)
        peer["contiguous"] = applied.contiguous
        peer["head"] = max(peer["head"], max(e.seq for e in entries))
        peer["seen"] = time.time()
        if peer["head"] > peer["contiguous"]:
            self._ask(origin, kiosk, peer["contiguous"] + 1)
        if applied.new or applied.conflicts_changed:
            self.on_applied(applied)

    async def _resend(self, first: int) -> None:
        """Send our entries from ``first`` on (a peer missed them), a batch at a time."""
        rows = await self.store.read(lambda db: db.execute(
            f"SELECT {ENTRY_COLUMNS} FROM checkins WHERE origin = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (self.origin, first, BATCH * 10)).fetchall())
        entries = [Entry(*row) for row in rows]
        for i in range(0, len(entries), BATCH):
            self._send_entries(entries[i:i + BATCH])
            await asyncio.sleep(0)  # let the loop breathe between large batches

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def view(self) -> dict:
        return {"connected": self.connection.connected, "origin": self.origin,
                "peers": [{"origin": o, "kiosk": p["kiosk"], "head": p["head"], "held": p["contiguous"]}
                          for o, p in sorted(self.peers.items())],
                "published": self.stats.published, "applied": self.stats.applied, "rejected": self.stats.rejected,
                "last_rejection": self.stats.last_rejection}
