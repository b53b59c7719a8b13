"""Kiosks share their check-ins over the site's MQTT broker.

Each desk keeps its own durable log (origin = desk id + the log's random epoch, so a
desk whose disk was replaced starts a new log instead of clashing with its old one)
and a replica of every other desk's. Topics (QoS 1), JSON, each message signed with
HMAC-SHA256 and the site's kiosk secret over the exact bytes of its body, the MAC
appended as the last member — ``{...body...,"mac":"<64 hex>"}`` — so a receiver checks
the bytes it got before parsing anything, and nobody re-serialises JSON to check it:

    roomctl/<site>/kiosks/<desk>/checkins   {"type": "entries", "origin", "entries": [...]}
                                            {"type": "head", "origin", "seq"}   the desk's latest seq
    roomctl/<site>/kiosks/<desk>/resend     {"type": "resend", "origin", "from"}   asks <desk> to send again

    roomctl/<site>/kiosks/<desk>/badges     {"type": "badges", "origin", "revoked": [[ref, at, reason, reissued], ...],
                                             "keys": [[key_id, public (Base64), "verify" | "retired"], ...]}
                                            {"type": "digest", "origin", "digest", "revoked", "keys"}

A desk publishes each accepted scan once it is committed, and its head on connect and
every HEAD_INTERVAL. A desk that sees a head beyond what it holds, or a gap in what
arrives, asks the owner to resend from its first missing entry. So whatever was lost —
a desk cut off, a broker restarted with no memory, a message dropped — is filled in
within a head interval of the link coming back. Applying is idempotent by (origin, seq):
a replayed message changes nothing; an altered one fails its signature and is dropped
whole. Messages carry attendee references, never names.

Which badges count travels on the badges topic. Unlike check-ins it is not a log owned
by one desk but a state every desk holds whole and merges: revocations only ever grow
(the same badge revoked twice keeps the earliest), a key is added once and only ever
goes on to retired. A change made at a desk (or by `roomctl kiosk` on its store, noticed
within BADGE_POLL) goes out at once as a "badges" message with just that change; every
HEAD_INTERVAL a desk also publishes the digest of all it holds, and a desk that hears a
digest other than its own publishes all it holds. So a revocation reaches a desk that
was cut off within a beat or two of the link coming back, from whichever desk knew it —
even if the desk that made it is gone. Keys travel as their public halves only.

Every message has a random id: one received before (a replay, or the broker's rare
duplicate) is refused and counted. Ids are remembered for the last SEEN_IDS messages;
a replay older than that is applied again and, being idempotent, changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from drivers.errors import DeviceError
from drivers.transports.base import Message
from drivers.transports.mqtt import MqttConnection
from kiosk.checkin import ENTRY_COLUMNS, Applied, Entry, apply_entries, recheck_conflicts
from kiosk.errors import KioskError, SyncRejected
from kiosk.store import KioskStore
from kiosk.tokens import KeyState, is_ref

log = logging.getLogger(__name__)

VERSION = 3  # 2: every message carries a random id ("msg"); the badges topic. 3: the MAC covers the bytes sent
# How often a desk announces its head: the longest a lost message stays missing elsewhere.
HEAD_INTERVAL = 1.0
# A resend request not yet answered is not repeated sooner than this.
RESEND_BACKOFF = 0.5
# Entries per message: a burst or a catch-up goes out in messages of at most this many.
BATCH = 500
MAX_MESSAGE = 1_000_000  # bytes; a catch-up batch of 500 entries is ~100 kB
ORIGIN_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.[0-9a-f]{8}")
NONCE_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
MSG_RE = re.compile(r"[0-9a-f]{16}")
# Message ids remembered against replays: at a head and a digest a second from each of
# ten desks, about a quarter of an hour's worth; a few MB.
SEEN_IDS = 20_000
# How often a desk looks for changes made to its store by another process (`roomctl
# kiosk revoke`, `keys`, `import`): a revocation made there is out within this.
BADGE_POLL = 0.25
REASON_MAX = 200


class SyncReplayed(SyncRejected):
    """An authentic message received before: a replay (or the broker's rare duplicate)."""


@dataclass
class SyncStats:
    published: int = 0
    applied: int = 0
    rejected: int = 0
    replayed: int = 0
    resend_requests: int = 0
    badges_applied: int = 0  # revocations and key changes learnt from other desks
    state_pushes: int = 0  # all this desk holds, sent because a peer's digest differed
    last_rejection: str | None = None


# --- which badges count: revocations and public keys ---------------------------------------


@dataclass(frozen=True, slots=True)
class Revocation:
    """A badge that no longer counts. Its check-ins from ``at`` on are flagged for staff."""

    ref: str
    at: str  # ISO 8601, UTC, as check-ins' ``at``; "" (unknown, from an old pack): every check-in is flagged
    reason: str
    reissued: str | None = None  # the attendee's new reference, when a new badge was made


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A badge key as desks share it: the public half, and whether its badges still count."""

    key_id: int
    public: bytes  # Ed25519, raw 32 bytes
    retired: bool


@dataclass
class BadgeChange:
    """What a merge (or another process) changed in a desk's store."""

    revoked: list[Revocation] = field(default_factory=list)  # new, or now with an earlier time or a reissue
    keys: list[PublicKey] = field(default_factory=list)  # new, or now retired
    refused: list[str] = field(default_factory=list)  # why a key was not taken: it differs from ours
    conflicts_changed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.revoked or self.keys or self.conflicts_changed)


def encode_revocation(item: Revocation) -> list:
    return [item.ref, item.at, item.reason, item.reissued]


def encode_key(item: PublicKey) -> list:
    return [item.key_id, base64.b64encode(item.public).decode("ascii"), "retired" if item.retired else "verify"]


def decode_revocation(raw) -> Revocation:
    """One revocation from a message; ValueError if it is not exactly one."""
    if not isinstance(raw, list) or len(raw) != 4:
        raise ValueError("a revocation is [ref, at, reason, reissued]")
    ref, at, reason, reissued = raw
    if not (isinstance(ref, str) and is_ref(ref)):
        raise ValueError("not an attendee reference")
    if not isinstance(at, str) or len(at) > 40 or (at and datetime.fromisoformat(at).tzinfo is None):
        raise ValueError("a time with its UTC offset")
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise ValueError(f"a reason of at most {REASON_MAX} characters")
    if reissued is not None and not (isinstance(reissued, str) and is_ref(reissued) and reissued != ref):
        raise ValueError("reissued: another attendee reference")
    return Revocation(ref, at, reason, reissued)


def decode_key(raw) -> PublicKey:
    """One public key from a message; ValueError if it is not exactly one (a private key never is)."""
    if not isinstance(raw, list) or len(raw) != 3:
        raise ValueError("a key is [key_id, public, state]")
    key_id, public, state = raw
    if not (isinstance(key_id, int) and not isinstance(key_id, bool) and 0 <= key_id <= 0xFF):
        raise ValueError("a key id is 0–255")
    if state not in ("verify", "retired"):
        raise ValueError("a key's state is verify or retired")
    if not isinstance(public, str) or len(public) != 44:
        raise ValueError("a public key is 32 bytes in Base64")
    try:
        raw_public = base64.b64decode(public, validate=True)
        Ed25519PublicKey.from_public_bytes(raw_public)
    except (binascii.Error, ValueError):
        raise ValueError("not an Ed25519 public key") from None
    return PublicKey(key_id, raw_public, state == "retired")


def badge_digest(revoked: Iterable[Revocation], keys: Iterable[PublicKey]) -> str:
    """What two desks compare: equal digests, the same revocations and keys."""
    canonical = json.dumps({"revoked": sorted(encode_revocation(r) for r in revoked),
                            "keys": sorted(encode_key(k) for k in keys)},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_badges(db: sqlite3.Connection) -> tuple[dict[str, Revocation], dict[int, PublicKey]]:
    revoked = {ref: Revocation(ref, at, reason, reissued)
               for ref, at, reason, reissued in db.execute("SELECT ref, at, reason, reissued FROM revoked")}
    keys = {key_id: PublicKey(key_id, bytes(public), state == KeyState.RETIRED)
            for key_id, public, state in db.execute("SELECT key_id, public, state FROM badge_keys")}
    return revoked, keys


def badges_touched(db: sqlite3.Connection) -> None:
    """Mark the store's revocations or keys changed, so the desk running on it notices (BADGE_POLL)."""
    db.execute("INSERT INTO meta(key, value) VALUES ('badges', '1') "
               "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")


def badges_fingerprint(db: sqlite3.Connection) -> tuple:
    """Cheap to read every BADGE_POLL; differs whenever revocations or keys have changed."""
    return db.execute(
        "SELECT (SELECT value FROM meta WHERE key = 'badges'), (SELECT COUNT(*) FROM revoked), "
        "(SELECT group_concat(key_id || state, ',') FROM (SELECT key_id, state FROM badge_keys ORDER BY key_id))"
    ).fetchone()


def merge_badges(db: sqlite3.Connection, revocations: Iterable[Revocation], keys: Iterable[PublicKey]) -> BadgeChange:
    """Take revocations and keys into the store (in a transaction); idempotent, and the same
    result in whatever order desks hear them. Check-ins made on a badge after its revocation
    become conflicts for staff."""
    change = BadgeChange()
    for item in revocations:
        row = db.execute("SELECT at, reason, reissued FROM revoked WHERE ref = ?", (item.ref,)).fetchone()
        if row is None:
            merged = item
            db.execute("INSERT INTO revoked(ref, at, reason, reissued) VALUES (?,?,?,?)",
                       (item.ref, item.at, item.reason, item.reissued))
        else:
            held = Revocation(item.ref, *row)
            # Revoked at two desks: the earlier revocation stands, and of two new badges the smaller
            # reference, so every desk ends with the same.
            at, reason = min((held.at, held.reason), (item.at, item.reason))
            reissued = min(filter(None, (held.reissued, item.reissued)), default=None)
            merged = Revocation(item.ref, at, reason, reissued)
            if merged == held:
                continue
            db.execute("UPDATE revoked SET at = ?, reason = ?, reissued = ? WHERE ref = ?",
                       (at, reason, reissued, item.ref))
        held_reissue = row[2] if row else None
        if merged.reissued is not None and merged.reissued != held_reissue \
                and not db.execute("SELECT 1 FROM attendees WHERE ref = ?", (merged.reissued,)).fetchone():
            db.execute("UPDATE attendees SET ref = ? WHERE ref IN (?, ?)",
                       (merged.reissued, item.ref, held_reissue or item.ref))
        change.revoked.append(merged)
        for (list_id,) in db.execute("SELECT DISTINCT list FROM checkins WHERE ref = ?", (item.ref,)).fetchall():
            change.conflicts_changed |= recheck_conflicts(db, item.ref, list_id)
    for key in keys:
        row = db.execute("SELECT public, state FROM badge_keys WHERE key_id = ?", (key.key_id,)).fetchone()
        if row is None:
            db.execute("INSERT INTO badge_keys(key_id, public, state) VALUES (?,?,?)",
                       (key.key_id, key.public, KeyState.RETIRED if key.retired else KeyState.VERIFY))
        elif bytes(row[0]) != key.public:
            change.refused.append(f"key {key.key_id} differs from the one this desk holds")
            continue
        elif key.retired and row[1] != KeyState.RETIRED:
            # A key's life only goes on to retired, never back; its private half goes with it.
            db.execute("UPDATE badge_keys SET state = ?, private = NULL WHERE key_id = ?",
                       (KeyState.RETIRED, key.key_id))
        else:
            continue  # active or verify here is this desk's own business (which key signs)
        change.keys.append(key)
    if change.revoked or change.keys:
        badges_touched(db)
    return change


class BadgeLedger:
    """This desk's revocations and public keys as its store holds them, with their digest.

    Merges from the network and changes made to the store by another process (the CLI)
    are taken one at a time, so each change is reported once, by whichever saw it first.
    """

    def __init__(self, store: KioskStore) -> None:
        self.store = store
        self.revoked: dict[str, Revocation] = {}
        self.keys: dict[int, PublicKey] = {}
        self.digest = badge_digest((), ())
        self._fingerprint: tuple | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self._lock:
            await self._reload()

    async def merge(self, revocations: list[Revocation], keys: list[PublicKey]) -> BadgeChange:
        async with self._lock:
            merged = await self.store.write(lambda db: merge_badges(db, revocations, keys))
            change = await self._reload()
        change.refused, change.conflicts_changed = merged.refused, merged.conflicts_changed
        return change

    async def refresh(self) -> BadgeChange:
        """What another process changed in the store since we last looked (nothing, mostly)."""
        async with self._lock:
            if await self.store.read(badges_fingerprint) == self._fingerprint:
                return BadgeChange()
            return await self._reload()

    async def _reload(self) -> BadgeChange:
        fingerprint, (revoked, keys) = await self.store.read(lambda db: (badges_fingerprint(db), read_badges(db)))
        change = BadgeChange(revoked=[r for ref, r in revoked.items() if self.revoked.get(ref) != r],
                             keys=[k for key_id, k in keys.items() if self.keys.get(key_id) != k])
        self.revoked, self.keys, self._fingerprint = revoked, keys, fingerprint
        self.digest = badge_digest(revoked.values(), keys.values())
        return change

    def view(self) -> dict:
        return {"revoked": len(self.revoked), "digest": self.digest[:16],
                "keys": [{"id": k.key_id, "retired": k.retired} for k in sorted(self.keys.values(),
                                                                                 key=lambda k: k.key_id)]}


_MAC_HEAD = b',"mac":"'
_MAC_TAIL = len(_MAC_HEAD) + 64 + len(b'"}')  # ,"mac":"<64 hex>"}


def seal(secret: bytes, body: dict) -> bytes:
    """``body`` as compact JSON with its HMAC-SHA256 (over exactly those bytes) as the last member."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if not text.startswith(b"{") or text == b"{}":
        raise ValueError("a sealed message is a non-empty JSON object")
    return text[:-1] + _MAC_HEAD + hmac.new(secret, text, hashlib.sha256).hexdigest().encode() + b'"}'


def unseal(secret: bytes, payload: bytes, topic: str = "") -> dict:
    """The body of a sealed message, checked before it is parsed; SyncRejected otherwise."""
    if len(payload) <= _MAC_TAIL + 1 or payload[-_MAC_TAIL:-66] != _MAC_HEAD or not payload.endswith(b'"}'):
        raise SyncRejected("not a signed kiosk message", topic)
    text, mac = payload[:-_MAC_TAIL] + b"}", payload[-66:-2]
    if not hmac.compare_digest(mac, hmac.new(secret, text, hashlib.sha256).hexdigest().encode()):
        raise SyncRejected("bad signature: altered, or signed with another secret", topic)
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError):  # signed with the secret, yet not JSON: a broken sender
        raise SyncRejected("not JSON", topic) from None
    if not isinstance(body, dict):
        raise SyncRejected("not a JSON object", topic)
    return body


@dataclass
class Peer:
    """What this desk knows of another desk's log."""

    kiosk: str
    head: int = 0  # its latest seq, as it announced
    contiguous: int = 0  # held here without a gap
    arrived: int = 0  # received without a gap: held, or on its way to the store
    mark: int = 0  # ``contiguous`` at the last beat: arrived-but-not-stored for a beat is asked for again
    seen: float | None = None  # when it was last heard (time.time())


class Replicator:
    def __init__(self, *, site: str, kiosk_id: str, origin: str, secret: bytes, store: KioskStore,
                 connection: MqttConnection, known_lists: set[str],
                 on_applied: Callable[[Applied], None] = lambda applied: None,
                 head_interval: float = HEAD_INTERVAL, ledger: BadgeLedger | None = None,
                 on_badges: Callable[[BadgeChange], None] = lambda change: None) -> None:
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
        self.peers: dict[str, Peer] = {}  # by origin
        self._outbox: list[Entry] = []
        self._flush_scheduled = False
        self._asked: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()
        self._heartbeat: asyncio.Task | None = None
        self._routes = []
        self._head = 0
        self.ledger = ledger  # None: this desk shares check-ins only
        self.on_badges = on_badges
        self._badge_routes = []
        self._state_pushed = float("-inf")
        self._seen: set[str] = set()
        self._seen_order: collections.deque[str] = collections.deque()

    # --- topics ---------------------------------------------------------------------

    def topic(self, kiosk: str, kind: str) -> str:
        return f"roomctl/{self.site}/kiosks/{kiosk}/{kind}"

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._head = await self.store.read(
            lambda db: db.execute("SELECT COALESCE(MAX(seq), 0) FROM checkins WHERE origin = ?", (self.origin,)).fetchone()[0])
        for origin, contiguous in await self.store.read(lambda db: db.execute("SELECT origin, contiguous FROM replicas").fetchall()):
            self.peers[origin] = Peer(origin.rsplit(".", 1)[0], head=contiguous, contiguous=contiguous,
                                      arrived=contiguous, mark=contiguous)
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
        for route in self._routes + self._badge_routes:
            self.connection.unsubscribe(route)
        self._routes, self._badge_routes = [], []

    @property
    def connected(self) -> bool:
        return self.connection.connected

    @property
    def subscribed(self) -> bool:
        """Connected, and hearing every topic this desk follows."""
        return self.connected and bool(self._routes) and (self.ledger is None or bool(self._badge_routes))

    def _on_connection(self, connected: bool) -> None:
        if connected:
            self._spawn(self._subscribe())

    async def _subscribe(self) -> None:
        try:
            if self.ledger is not None and not self._badge_routes:
                self._badge_routes = [await self.connection.subscribe(self.topic("+", "badges"), self._received)]
            if not self._routes:
                self._routes = [
                    await self.connection.subscribe(self.topic("+", "checkins"), self._received),
                    await self.connection.subscribe(self.topic(self.kiosk_id, "resend"), self._received),
                ]
            self._publish_head()
            self._publish_digest()
        except DeviceError as exc:
            log.warning("kiosk sync: %s", exc)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.head_interval)
            if self.connection.connected:
                self._publish_head()
                self._publish_digest()
                for origin, peer in self.peers.items():
                    if peer.arrived > peer.contiguous == peer.mark:
                        peer.arrived = peer.contiguous  # arrived a beat ago and still not stored: ask again
                    peer.mark = peer.contiguous
                    self._fill_gap(origin, peer)

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
        if self._outbox:
            self._flush()  # the entries first: a head ahead of them would have peers ask for what is on its way
        self._publish(self.topic(self.kiosk_id, "checkins"), {"type": "head", "origin": self.origin, "seq": self._head})

    def _publish(self, topic: str, body: dict) -> bool:
        body = {"v": VERSION, "site": self.site, "kiosk": self.kiosk_id, "msg": os.urandom(8).hex(), **body}
        try:
            self.connection.publish_nowait(topic, self._sign(body), qos=1)
            return True
        except DeviceError:
            return False  # not connected: heads and resend requests fill it in later

    def publish_badges(self, change: BadgeChange) -> None:
        """Tell the other desks of revocations and keys changed here (by this desk or on its store)."""
        if self.ledger is not None and (change.revoked or change.keys):
            self._send_badges(change.revoked, change.keys)

    def _send_badges(self, revoked: list[Revocation], keys: list[PublicKey]) -> None:
        if not self.connection.connected:
            return  # digests carry it once the link is back
        if not (revoked or keys):
            return  # a desk that holds nothing has nothing to tell
        for i in range(0, max(len(revoked), 1), BATCH):
            self._publish(self.topic(self.kiosk_id, "badges"),
                          {"type": "badges", "origin": self.origin,
                           "revoked": [encode_revocation(r) for r in revoked[i:i + BATCH]],
                           "keys": [encode_key(k) for k in keys] if i == 0 else []})

    def _publish_digest(self) -> None:
        if self.ledger is not None:
            self._publish(self.topic(self.kiosk_id, "badges"),
                          {"type": "digest", "origin": self.origin, "digest": self.ledger.digest,
                           "revoked": len(self.ledger.revoked), "keys": len(self.ledger.keys)})

    def _push_state(self) -> None:
        """A peer holds other revocations or keys than we do: send all of ours (theirs come the same way).
        Not again for two beats: the peer's next digest shows whether that was enough."""
        now = time.monotonic()
        if now - self._state_pushed < 2 * self.head_interval:
            return
        self._state_pushed = now
        self.stats.state_pushes += 1
        self._send_badges(list(self.ledger.revoked.values()), list(self.ledger.keys.values()))

    def _fill_gap(self, origin: str, peer: dict) -> None:
        """Ask the owner for what has not arrived. Entries that arrived and wait for the store
        are not missing: asking for them while a burst is applied would make every desk ask
        every other for resends that go to all of them."""
        if peer.head > peer.arrived:
            self._ask(origin, peer.kiosk, peer.arrived + 1)

    def _ask(self, origin: str, kiosk: str, first: int) -> None:
        now = time.monotonic()
        if now - self._asked.get(origin, 0.0) < RESEND_BACKOFF:
            return
        self._asked[origin] = now
        self.stats.resend_requests += 1
        self._publish(self.topic(kiosk, "resend"), {"type": "resend", "origin": origin, "from": first})

    # --- signing --------------------------------------------------------------------

    def _sign(self, body: dict) -> bytes:
        return seal(self.secret, body)

    def verify(self, message: Message) -> dict:
        """The message's body if it is authentic and well formed; SyncRejected otherwise."""
        if len(message.payload) > MAX_MESSAGE:
            raise SyncRejected("message too large", message.topic)
        body = unseal(self.secret, message.payload, message.topic)
        msg = body.get("msg")
        if not isinstance(msg, str) or not MSG_RE.fullmatch(msg):
            raise SyncRejected("no message id", message.topic)
        if msg in self._seen:
            raise SyncReplayed("replayed: this message was received before", message.topic)
        parts = message.topic.split("/")
        origin = body.get("origin")
        if not isinstance(origin, str) or not ORIGIN_RE.fullmatch(origin):
            raise SyncRejected("bad origin", message.topic)
        # checkins, badges: a desk publishes its own on its own topic; resend: asks the log's owner on the owner's topic
        owner = origin.rsplit(".", 1)[0]
        kind = body.get("type")
        expected = ("checkins", body.get("kiosk")) if kind in ("entries", "head") else \
            ("badges", body.get("kiosk")) if kind in ("badges", "digest") else ("resend", owner)
        if body.get("v") != VERSION or body.get("site") != self.site or len(parts) != 5 \
                or (parts[4], parts[3]) != expected or owner != parts[3]:
            raise SyncRejected("site, desk, kind or version does not match the topic", message.topic)
        self._remember(msg)  # only once it passed: a copy on a wrong topic must not make the genuine one a replay
        return body

    def _remember(self, msg: str) -> None:
        self._seen.add(msg)
        self._seen_order.append(msg)
        if len(self._seen_order) > SEEN_IDS:
            self._seen.discard(self._seen_order.popleft())

    # --- in -------------------------------------------------------------------------

    def _received(self, message: Message) -> None:
        try:
            body = self.verify(message)
        except SyncRejected as exc:
            self._rejected(exc)
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
            peer.head = max(peer.head, body["seq"])
            peer.seen = time.time()
            self._fill_gap(body["origin"], peer)
        elif kind == "entries":
            try:
                entries = self._entries(body, message.topic)
            except SyncRejected as exc:
                self._rejected(exc)
                return
            peer = self._peer(body["origin"], body["kiosk"])
            for seq in sorted(entry.seq for entry in entries):
                if seq > peer.arrived + 1:
                    break  # a gap: what follows it counts once the gap is filled and stored
                peer.arrived = max(peer.arrived, seq)
            self._spawn(self._apply(body["origin"], body["kiosk"], entries, message.topic))
        elif kind == "digest" and self.ledger is not None:
            if isinstance(body.get("digest"), str) and body["digest"] != self.ledger.digest:
                self._push_state()
        elif kind == "badges" and self.ledger is not None:
            try:
                revoked, keys = self._badges(body, message.topic)
            except SyncRejected as exc:
                self._rejected(exc)
                return
            self._spawn(self._merge_badges(revoked, keys, message.topic))

    def _rejected(self, exc: SyncRejected) -> None:
        self.stats.rejected += 1
        if isinstance(exc, SyncReplayed):
            self.stats.replayed += 1
        self.stats.last_rejection = exc.reason
        log.warning("kiosk sync rejected a message: %s", exc)

    def _badges(self, body: dict, topic: str) -> tuple[list[Revocation], list[PublicKey]]:
        revoked, keys = body.get("revoked"), body.get("keys")
        if not (isinstance(revoked, list) and isinstance(keys, list) and len(revoked) <= BATCH and len(keys) <= 256
                and (revoked or keys)) or set(body) - {"v", "site", "kiosk", "msg", "type", "origin", "revoked", "keys"}:
            raise SyncRejected("badges: revoked (at most 500) and keys (at most 256), nothing else", topic)
        try:
            return [decode_revocation(item) for item in revoked], [decode_key(item) for item in keys]
        except (TypeError, ValueError) as exc:
            raise SyncRejected(f"a malformed revocation or key: {exc}", topic) from None

    async def _merge_badges(self, revoked: list[Revocation], keys: list[PublicKey], topic: str) -> None:
        try:
            change = await self.ledger.merge(revoked, keys)
        except (KioskError, sqlite3.Error) as exc:
            self._rejected(SyncRejected(str(exc), topic))
            return
        for reason in change.refused:
            self._rejected(SyncRejected(reason, topic))
        self.stats.badges_applied += len(change.revoked) + len(change.keys)
        if change.changed:
            self.on_badges(change)

    def _peer(self, origin: str, kiosk: str) -> dict:
        peer = self.peers.get(origin)
        if peer is None:
            peer = self.peers[origin] = Peer(kiosk)
        return peer

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
            peer = self._peer(origin, kiosk)
            peer.arrived = peer.contiguous  # not stored: it has to come again
            return
        self.stats.applied += len(applied.new)
        peer = self._peer(origin, kiosk)
        peer.contiguous = applied.contiguous
        peer.arrived = max(peer.arrived, applied.contiguous)
        peer.head = max(peer.head, max(e.seq for e in entries))
        peer.seen = time.time()
        self._fill_gap(origin, peer)
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
                "peers": [{"origin": o, "kiosk": p.kiosk, "head": p.head, "held": p.contiguous}
                          for o, p in sorted(self.peers.items())],
                "published": self.stats.published, "applied": self.stats.applied, "rejected": self.stats.rejected,
                "replayed": self.stats.replayed, "badges_applied": self.stats.badges_applied,
                "last_rejection": self.stats.last_rejection}
