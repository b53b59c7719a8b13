"""The routines' records in the site's SQLite store: playbook runs, alerts, post-meeting
routines and signed session logs.

Each record is one JSON document per row, rewritten as it grows (a playbook run after
every step); every write commits before the caller goes on to tell anyone about it.
Runs on the store's own thread (``Store.call``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS playbook_runs (
    id        TEXT PRIMARY KEY,
    room      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    started   TEXT NOT NULL,
    outcome   TEXT,
    run       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS playbook_runs_room ON playbook_runs(room, started);
CREATE TABLE IF NOT EXISTS alerts (
    id        TEXT PRIMARY KEY,
    room      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    at        TEXT NOT NULL,
    alert     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_room ON alerts(room, at);
CREATE TABLE IF NOT EXISTS post_meeting (
    id        TEXT PRIMARY KEY,
    room      TEXT NOT NULL,
    started   TEXT NOT NULL,
    record    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS post_meeting_room ON post_meeting(room, started);
CREATE TABLE IF NOT EXISTS session_logs (
    id        TEXT PRIMARY KEY,
    room      TEXT NOT NULL,
    signed_by TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    content   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS session_logs_room ON session_logs(room, signed_at);
"""


class RoutineStore:
    def __init__(self, store) -> None:
        self._store = store

    async def open(self) -> None:
        await self._store.call(_create)

    # --- playbook runs ----------------------------------------------------------------

    async def save_run(self, run: dict[str, Any]) -> None:
        await self._store.call(_upsert, "INSERT OR REPLACE INTO playbook_runs(id, room, kind, started, outcome, run) "
                                        "VALUES (?,?,?,?,?,?)",
                               (run["id"], run["room"], run["kind"], run["started_at"], run.get("outcome"),
                                json.dumps(run)))

    async def runs(self, *, room: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return await self._store.call(_documents, "playbook_runs", "run", "started", room, limit)

    async def run(self, run_id: str) -> dict[str, Any] | None:
        return await self._store.call(_document, "playbook_runs", "run", run_id)

    # --- alerts -----------------------------------------------------------------------

    async def save_alert(self, alert: dict[str, Any]) -> None:
        await self._store.call(_upsert, "INSERT OR REPLACE INTO alerts(id, room, kind, at, alert) VALUES (?,?,?,?,?)",
                               (alert["id"], alert["room"], alert["kind"], alert["at"], json.dumps(alert)))

    async def alerts(self, *, room: str | None = None, since: str | None = None, limit: int = 100) -> list[dict]:
        return await self._store.call(_documents, "alerts", "alert", "at", room, limit, since)

    # --- post-meeting and session logs ------------------------------------------------

    async def save_post_meeting(self, record: dict[str, Any]) -> None:
        await self._store.call(_upsert, "INSERT OR REPLACE INTO post_meeting(id, room, started, record) VALUES (?,?,?,?)",
                               (record["id"], record["room"], record["started_at"], json.dumps(record)))

    async def post_meetings(self, *, room: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        return await self._store.call(_documents, "post_meeting", "record", "started", room, limit)

    async def post_meeting(self, record_id: str) -> dict[str, Any] | None:
        return await self._store.call(_document, "post_meeting", "record", record_id)

    async def save_session_log(self, log: dict[str, Any]) -> None:
        await self._store.call(_upsert, "INSERT INTO session_logs(id, room, signed_by, signed_at, sha256, content) "
                                        "VALUES (?,?,?,?,?,?)",
                               (log["id"], log["room"], log["signed_by"], log["signed_at"], log["sha256"],
                                log["content"]))

    async def session_log(self, log_id: str) -> dict[str, Any] | None:
        return await self._store.call(_session_log, log_id)


def _create(db: sqlite3.Connection) -> None:
    with db:
        db.executescript(SCHEMA)


def _upsert(db: sqlite3.Connection, sql: str, row: tuple) -> None:
    with db:
        db.execute(sql, row)


def _documents(db: sqlite3.Connection, table: str, column: str, order: str, room: str | None, limit: int,
               since: str | None = None) -> list[dict[str, Any]]:
    # table, column and order are this module's constants, never a caller's text.
    sql, args = f"SELECT {column} FROM {table} WHERE 1=1", []
    if room is not None:
        sql += " AND room = ?"
        args.append(room)
    if since is not None:
        sql += f" AND {order} >= ?"
        args.append(since)
    sql += f" ORDER BY {order} DESC, rowid DESC LIMIT ?"
    args.append(limit)
    return [json.loads(row[0]) for row in db.execute(sql, args)]


def _document(db: sqlite3.Connection, table: str, column: str, key: str) -> dict[str, Any] | None:
    row = db.execute(f"SELECT {column} FROM {table} WHERE id = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def _session_log(db: sqlite3.Connection, log_id: str) -> dict[str, Any] | None:
    row = db.execute("SELECT id, room, signed_by, signed_at, sha256, content FROM session_logs WHERE id = ?",
                     (log_id,)).fetchone()
    if row is None:
        return None
    return dict(zip(("id", "room", "signed_by", "signed_at", "sha256", "content"), row))
