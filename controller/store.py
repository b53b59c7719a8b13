"""SQLite in WAL mode: the event log (and, later, reports, check-ins, the archive).

sqlite3 blocks, so every call runs in one worker thread; the event loop only awaits.
Writes are committed before the awaiting caller is told they happened.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from controller.events import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    room     TEXT,
    device   TEXT,
    actor    TEXT,
    data     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_room ON events(room, device, seq);
CREATE TABLE IF NOT EXISTS selftests (
    id       TEXT PRIMARY KEY,
    room     TEXT NOT NULL,
    started  TEXT NOT NULL,
    ready    INTEGER NOT NULL,
    report   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS selftests_room ON selftests(room, started);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        # One thread owns the connection: sqlite3 objects stay on the thread that made them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
        self._db.executescript(SCHEMA)
        self._db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def call(self, fn, *args):
        """Run ``fn(connection, *args)`` on the store's thread: for sibling stores with tables of
        their own (the equipment archive). A write commits inside ``fn`` (``with connection:``)."""
        return await self._run(fn, self._db, *args)

    async def append_events(self, events: list[Event]) -> None:
        rows = [(e.at.isoformat(), e.kind, e.room, e.device, e.actor, json.dumps(e.data, default=str)) for e in events]
        await self._run(self._insert, rows)

    def _insert(self, rows: list[tuple]) -> None:
        with self._db:
            self._db.executemany("INSERT INTO events(at, kind, room, device, actor, data) VALUES (?,?,?,?,?,?)", rows)

    async def save_selftest(self, report: dict[str, Any]) -> None:
        """Committed before anyone is told the result."""
        await self._run(_save_selftest, self._db, report)

    async def selftests(self, *, room: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        return await self._run(_selftests, self._db, room, limit)

    async def events(self, *, room: str | None = None, device: str | None = None, kinds: list[str] | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
        return await self._run(self._select, room, device, kinds, limit)

    def _select(self, room, device, kinds, limit) -> list[dict[str, Any]]:
        sql, args = "SELECT seq, at, kind, room, device, actor, data FROM events WHERE 1=1", []
        if room is not None:
            sql += " AND room = ?"
            args.append(room)
        if device is not None:
            sql += " AND device = ?"
            args.append(device)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += kinds
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        rows = self._db.execute(sql, args).fetchall()
        return [dict(seq=r[0], at=r[1], kind=r[2], room=r[3], device=r[4], actor=r[5], data=json.loads(r[6])) for r in rows]


def _save_selftest(db: sqlite3.Connection, report: dict[str, Any]) -> None:
    with db:
        db.execute("INSERT INTO selftests(id, room, started, ready, report) VALUES (?,?,?,?,?)",
                   (report["id"], report["room"], report["started_at"], int(report["ready"]), json.dumps(report)))


def _selftests(db: sqlite3.Connection, room: str | None, limit: int) -> list[dict[str, Any]]:
    sql, args = "SELECT report FROM selftests", []
    if room is not None:
        sql += " WHERE room = ?"
        args.append(room)
    sql += " ORDER BY started DESC LIMIT ?"
    args.append(limit)
    return [json.loads(row[0]) for row in db.execute(sql, args)]


class EventRecorder:
    """Writes every bus event to the store in batches, so a burst costs one commit."""

    BATCH = 500

    def __init__(self, bus, store: Store) -> None:
        self._subscription = bus.subscribe(limit=100_000)
        self._store = store
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event recorder")

    async def _run(self) -> None:
        while True:
            batch = [await self._subscription.get()]
            while len(batch) < self.BATCH and not self._subscription.queue.empty():
                batch.append(self._subscription.queue.get_nowait())
            await self._store.append_events(batch)

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        pending = []
        while not self._subscription.queue.empty():
            pending.append(self._subscription.queue.get_nowait())
        if pending:
            await self._store.append_events(pending)
        self._subscription.close()
