"""The kiosk's own durable log: SQLite in WAL mode, its own file, one writer thread.

Every change is a small function run in the writer thread inside a transaction; the
caller is answered only after COMMIT returns, so an "ok" on screen is on disk first.
Calls that arrive while a commit is under way are committed together (group commit):
under load one fsync serves many check-ins, each still answered only after it. Each
call runs inside its own savepoint, so a call that fails leaves nothing behind and
does not take the others of its group with it.

Reads (staff page, search, export) use a second connection in a second thread: WAL
lets them run while the writer commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Most calls one group commit takes: bounds how long the first of them waits.
GROUP_LIMIT = 256
# Another process (a CLI import) holding the write lock: wait this long before failing.
BUSY_TIMEOUT_MS = 5000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attendees (
    id           TEXT PRIMARY KEY,
    ref          TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    organisation TEXT NOT NULL DEFAULT '',
    title        TEXT NOT NULL DEFAULT '',
    seat         TEXT NOT NULL DEFAULT '',
    vip          INTEGER NOT NULL DEFAULT 0,
    blocked      INTEGER NOT NULL DEFAULT 0,
    photo        BLOB,
    photo_type   TEXT,
    search       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
    attendee TEXT NOT NULL REFERENCES attendees(id) ON DELETE CASCADE,
    list     TEXT NOT NULL,
    PRIMARY KEY (attendee, list)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_list ON memberships(list);
CREATE TABLE IF NOT EXISTS badge_keys (
    key_id  INTEGER PRIMARY KEY,
    public  BLOB NOT NULL,
    private BLOB,
    state   TEXT NOT NULL
);
-- reissued: the attendee's new reference when a new badge was made (it travels with the revocation)
CREATE TABLE IF NOT EXISTS revoked (ref TEXT PRIMARY KEY, at TEXT NOT NULL, reason TEXT NOT NULL, reissued TEXT)
    WITHOUT ROWID;
-- The replicated log: this desk's accepted scans (origin = this desk's log) and the replicas of the others'.
CREATE TABLE IF NOT EXISTS checkins (
    origin    TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    nonce     TEXT NOT NULL,
    ref       TEXT NOT NULL,
    list      TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    at        TEXT NOT NULL,
    kiosk     TEXT NOT NULL,
    offline   INTEGER NOT NULL DEFAULT 0,
    reason    TEXT,
    staff     TEXT,
    PRIMARY KEY (origin, seq),
    UNIQUE (origin, nonce)
);
CREATE INDEX IF NOT EXISTS checkins_ref ON checkins(ref, list);
CREATE INDEX IF NOT EXISTS checkins_at ON checkins(at);
-- Every decision this desk made, accepted or not: the staff page's recent scans.
CREATE TABLE IF NOT EXISTS scans (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    kiosk     TEXT NOT NULL,
    source    TEXT NOT NULL,
    result    TEXT NOT NULL,
    ref       TEXT,
    list      TEXT NOT NULL,
    direction TEXT NOT NULL,
    detail    TEXT
);
CREATE TABLE IF NOT EXISTS conflicts (
    ref           TEXT NOT NULL,
    list          TEXT NOT NULL,
    first_origin  TEXT NOT NULL,
    first_seq     INTEGER NOT NULL,
    second_origin TEXT NOT NULL,
    second_seq    INTEGER NOT NULL,
    PRIMARY KEY (ref, list, second_origin, second_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replicas (origin TEXT PRIMARY KEY, contiguous INTEGER NOT NULL) WITHOUT ROWID;
"""


class StoreClosed(RuntimeError):
    pass


class KioskStore:
    def __init__(self, path: str | Path, *, durability: str = "full") -> None:
        self.path = str(path)
        self.durability = durability
        self._writes: queue.SimpleQueue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-read")
        self._read_db: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0  # group commits done; with ``writes`` it shows how well groups form
        self.writes = 0

    # --- lifecycle ----------------------------------------------------------------

    def connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        """A connection with this store's settings (the CLI and benchmarks use it directly)."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=WAL")
        # full: the WAL is fsynced at every commit, so an answered check-in survives a power cut.
        db.execute(f"PRAGMA synchronous={'FULL' if self.durability == 'full' else 'NORMAL'}")
        db.execute("PRAGMA foreign_keys=ON")
        if readonly:
            db.execute("PRAGMA query_only=1")
        return db

    def initialise(self) -> None:
        """Create the schema; safe to run on an existing store."""
        db = self.connect()
        try:
            db.executescript("BEGIN;" + SCHEMA + "COMMIT;")
            with contextlib.suppress(sqlite3.IntegrityError):
                db.execute("INSERT INTO meta(key, value) VALUES ('epoch', ?)", (os.urandom(4).hex(),))
            if "reissued" not in {row[1] for row in db.execute("PRAGMA table_info(revoked)")}:
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it meanwhile
                    db.execute("ALTER TABLE revoked ADD COLUMN reissued TEXT")  # a store from before revocations synced
        finally:
            db.close()

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._loop.run_in_executor(self._reader, self._open_reader)
        started = self._loop.create_future()
        self._writer = threading.Thread(target=self._write_forever, args=(started,), name="kiosk-write", daemon=True)
        self._writer.start()
        await started

    def _open_reader(self) -> None:
        self.initialise()
        self._read_db = self.connect(readonly=True)

    async def close(self) -> None:
        if self._writer is not None:
            self._writes.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._read_db is not None:
            db, self._read_db = self._read_db, None
            await asyncio.get_running_loop().run_in_executor(self._reader, db.close)
        self._reader.shutdown(wait=True)

    # --- calls --------------------------------------------------------------------

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(db)`` in a transaction; return its result once it is committed."""
        if self._writer is None:
            raise StoreClosed("the kiosk store is not open")
        future = self._loop.create_future()
        self._writes.put((fn, future))
        return await future

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._read_db is None:
            raise StoreClosed("the kiosk store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._reader, fn, self._read_db)

    # --- the writer thread ----------------------------------------------------------

    def _write_forever(self, started: asyncio.Future) -> None:
        db = self.connect()
        self._loop.call_soon_threadsafe(started.set_result, None)
        try:
            while True:
                item = self._writes.get()
                if item is None:
                    return
                group = [item]
                while len(group) < GROUP_LIMIT:
                    try:
                        more = self._writes.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._writes.put(None)  # stop after this group
                        break
                    group.append(more)
                self._commit_group(db, group)
        finally:
            db.close()

    def _commit_group(self, db: sqlite3.Connection, group: list[tuple[Callable, asyncio.Future]]) -> None:
        outcomes: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for fn, future in group:
                db.execute("SAVEPOINT call")
                try:
                    result = fn(db)
                except Exception as exc:  # this call's error is its caller's; the group goes on
                    db.execute("ROLLBACK TO call")
                    db.execute("RELEASE call")
                    outcomes.append((future, None, exc))
                else:
                    db.execute("RELEASE call")
                    outcomes.append((future, result, None))
            db.execute("COMMIT")
            self.commits += 1
            self.writes += len(group)
        except sqlite3.Error as exc:  # the commit itself failed (disk full, I/O): nobody's change counts
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            outcomes = [(future, None, exc) for _, future in group]
        for future, result, error in outcomes:
            self._loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the caller gave up (cancelled); the write is committed all the same
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
