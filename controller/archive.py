"""The equipment archive (设备档案): what each device is, where, how worn, what went wrong and
what was done about it.

- identity (manufacturer, model, serial, firmware), lamp and filter hours: read from the
  device (its ``identity``, ``lamps`` and ``filter_hours`` state); the last reading is kept
  in SQLite so the archive still knows a projector that is switched off or gone;
- name, function, room and install date: from the config;
- fault history: the event log's status changes to offline/fault and command errors;
- maintenance: entries a technician adds (who did it, when, what), committed before anyone
  is told they were recorded.

With a running site the archive reads live state; without one (``roomctl archive --config``)
it reads the store file alone.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from controller.config import SiteConfig

SCHEMA = """
CREATE TABLE IF NOT EXISTS maintenance (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room        TEXT NOT NULL,
    device      TEXT NOT NULL,
    at          TEXT NOT NULL,
    by          TEXT NOT NULL,
    note        TEXT NOT NULL,
    recorded_by TEXT,
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS maintenance_device ON maintenance(room, device, at);
-- A device's faults are a few of the event log's rows: a partial index finds them without
-- a scan, and costs nothing on the many state events.
CREATE INDEX IF NOT EXISTS events_faults ON events(room, device, seq) WHERE kind IN ('status', 'error');
CREATE TABLE IF NOT EXISTS archive_readings (
    room         TEXT NOT NULL,
    device       TEXT NOT NULL,
    identity     TEXT,
    lamps        TEXT,
    filter_hours INTEGER,
    read_at      TEXT NOT NULL,
    PRIMARY KEY (room, device)
);
"""

# The state keys the archive keeps (capabilities HasIdentity, HasLamps, HasFilter).
READ_KEYS = ("identity", "lamps", "filter_hours")
# Statuses that are faults in a device's history; connecting/online are its normal life.
FAULT_STATUSES = ("offline", "fault")
# A device's page shows this much history; the counts cover all of it.
HISTORY_SHOWN = 50
# A maintenance entry may be dated a little ahead (clocks of phones and laptops differ), not more.
FUTURE_SLACK = timedelta(minutes=10)
# What a spreadsheet would run as a formula if a cell started with it (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = ("room", "device", "name", "function", "driver", "manufacturer", "model", "serial_number", "firmware",
               "installed", "lamp_hours", "filter_hours", "status", "read_at", "faults", "last_fault_at",
               "maintenance", "last_maintenance_at")


class UnknownDevice(LookupError):
    def __init__(self, room: str, device: str, known: list[str]) -> None:
        super().__init__(f"no device {room}/{device} in this site" +
                         (f"; devices: {', '.join(known)}" if known else ""))
        self.room, self.device = room, device


class MaintenanceRequest(BaseModel):
    """What a technician records by hand."""

    by: str = Field(min_length=1, max_length=100, description="Who did the work")
    note: str = Field(min_length=1, max_length=2000, description="What was done: 'replaced lamp', 'cleaned filter'")
    at: datetime | None = Field(None, description="When it was done (default: now); no offset: the site's time")

    @field_validator("by", "note")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class MaintenanceRecord(BaseModel):
    id: int
    room: str
    device: str
    at: datetime
    by: str
    note: str
    recorded_by: str | None = None
    recorded_at: datetime


class FaultRecord(BaseModel):
    at: datetime
    kind: str  # offline, fault, error
    detail: str | None = None


class ArchiveEntry(BaseModel):
    room: str
    device: str
    name: str
    driver: str
    function: str | None = None
    installed: date | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware: str | None = None
    lamp_hours: list[int] = []
    filter_hours: int | None = None
    status: str | None = None  # live, or the last one in the event log
    live: bool = False  # read from the running device now, rather than from the store
    read_at: datetime | None = None  # when identity or hours were last read from the device
    fault_count: int = 0
    last_fault_at: datetime | None = None
    maintenance_count: int = 0
    last_maintenance_at: datetime | None = None
    faults: list[FaultRecord] | None = None  # on a device's own page
    maintenance: list[MaintenanceRecord] | None = None


class Archive:
    """The archive of one site; ``site`` None reads the store alone (offline)."""

    def __init__(self, config: SiteConfig, store, *, site=None, bus=None, clock=None, zone=None) -> None:
        self.config = config
        self.store = store
        self.site = site
        self.bus = bus
        self.clock = clock
        self.zone = zone
        self._subscription = None
        self._task: asyncio.Task | None = None

    async def open(self) -> None:
        await self.store.call(_create)

    # --- readings from the devices ------------------------------------------------------------

    def start(self) -> None:
        """Keep each device's latest identity and hours as they are read."""
        self._subscription = self.bus.subscribe(limit=10_000)
        self._task = asyncio.create_task(self._record(), name="archive readings")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._subscription is not None:
            pending = []
            while not self._subscription.queue.empty():
                pending.append(self._subscription.queue.get_nowait())
            await self._save_readings(pending)
            self._subscription.close()
            self._subscription = None

    async def _record(self) -> None:
        while True:
            batch = [await self._subscription.get()]
            while not self._subscription.queue.empty():
                batch.append(self._subscription.queue.get_nowait())
            await self._save_readings(batch)

    async def _save_readings(self, events) -> None:
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for event in events:
            if event.kind == "state" and event.room and event.device:
                values = {k: v for k, v in event.data.items() if k in READ_KEYS and v is not None}
                if values:
                    latest.setdefault((event.room, event.device), {"at": event.at}).update(values)
        if latest:
            await self.store.call(_upsert_readings, latest)

    # --- reading the archive --------------------------------------------------------------------

    def _devices(self):
        for room in self.config.rooms:
            for device in room.devices:
                yield room.id, device

    def _device_config(self, room_id: str, device_id: str):
        for room, device in self._devices():
            if room == room_id and device.id == device_id:
                return device
        raise UnknownDevice(room_id, device_id, [f"{r}/{d.id}" for r, d in self._devices()])

    async def entries(self) -> list[ArchiveEntry]:
        """Every device, with its history counted, in config order."""
        facts = await self.store.call(_facts, None, None, 0)
        return [self._entry(room, device, facts) for room, device in self._devices()]

    async def entry(self, room_id: str, device_id: str) -> ArchiveEntry:
        """One device, with its fault and maintenance history (the latest first)."""
        device = self._device_config(room_id, device_id)
        facts = await self.store.call(_facts, room_id, device_id, HISTORY_SHOWN)
        return self._entry(room_id, device, facts, history=True)

    def _entry(self, room_id: str, device, facts: dict, *, history: bool = False) -> ArchiveEntry:
        key = (room_id, device.id)
        reading = facts["readings"].get(key, {})
        live = None
        if self.site is not None:
            live = self.site.rooms[room_id].devices.get(device.id)
        snapshot = live.device.snapshot() if live is not None else {}
        identity = snapshot.get("identity") or reading.get("identity") or {}
        lamps = snapshot.get("lamps") if snapshot.get("lamps") is not None else reading.get("lamps") or []
        filter_hours = snapshot.get("filter_hours", reading.get("filter_hours"))
        faults = facts["faults"].get(key, {"count": 0, "last": None, "shown": []})
        maintenance = facts["maintenance"].get(key, {"count": 0, "last": None, "shown": []})
        local = self._local
        return ArchiveEntry(
            room=room_id, device=device.id, name=device.name or identity.get("name") or device.id,
            driver=device.driver, function=device.function, installed=device.installed,
            manufacturer=identity.get("manufacturer"), model=identity.get("model"),
            serial_number=identity.get("serial_number"), firmware=identity.get("firmware"),
            lamp_hours=[lamp["hours"] for lamp in lamps], filter_hours=filter_hours,
            status=live.supervisor.status.value if live is not None else facts["statuses"].get(key),
            live=live is not None, read_at=local(reading.get("read_at")),
            fault_count=faults["count"], last_fault_at=local(faults["last"]),
            maintenance_count=maintenance["count"], last_maintenance_at=local(maintenance["last"]),
            faults=[FaultRecord(**{**f, "at": local(f["at"])}) for f in faults["shown"]] if history else None,
            maintenance=[MaintenanceRecord(**{**m, "at": local(m["at"]), "recorded_at": local(m["recorded_at"])})
                         for m in maintenance["shown"]] if history else None,
        )

    def _local(self, stamp: str | datetime | None) -> datetime | None:
        """A stored time (UTC from the clock, or as entered) shown in the site's timezone, to the second."""
        if stamp is None:
            return None
        when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
        if self.zone is not None and when.tzinfo is not None:
            when = when.astimezone(self.zone)
        return when.replace(microsecond=0)

    async def csv(self) -> str:
        """One row per device, for a spreadsheet; starts with a BOM so Excel reads UTF-8 (Chinese names)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for entry in await self.entries():
            row = entry.model_dump(mode="json")
            row["lamp_hours"] = ";".join(str(h) for h in entry.lamp_hours)
            row["faults"], row["maintenance"] = entry.fault_count, entry.maintenance_count
            writer.writerow([_cell(row.get(column)) for column in CSV_COLUMNS])
        return "\ufeff" + out.getvalue()

    # --- maintenance by hand ----------------------------------------------------------------------

    async def add_maintenance(self, room_id: str, device_id: str, request: MaintenanceRequest, *,
                              recorded_by: str | None) -> MaintenanceRecord:
        """Record it (committed), then announce it; an unknown device or a date ahead records nothing."""
        self._device_config(room_id, device_id)
        now = self.clock.now() if self.clock is not None else datetime.now().astimezone()
        if self.zone is not None:
            now = now.astimezone(self.zone)
        now = now.replace(microsecond=0)
        at = request.at or now
        if at.tzinfo is None:
            at = at.replace(tzinfo=self.zone or now.tzinfo)
        if at > now + FUTURE_SLACK:
            raise ValueError(f"at: {at.isoformat()} is in the future (now {now.isoformat(timespec='seconds')})")
        record = await self.store.call(_insert_maintenance, room_id, device_id, at, request.by, request.note,
                                       recorded_by, now)
        if self.bus is not None:
            self.bus.publish("maintenance", room=room_id, device=device_id, actor=recorded_by,
                             data={"id": record.id, "at": record.at.isoformat(), "by": record.by, "note": record.note})
        return record


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value  # shown as text, never run as a formula
    return "" if value is None else value


# --- on the store's thread ---------------------------------------------------------------------


def _create(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)
    db.commit()


def _upsert_readings(db: sqlite3.Connection, latest: dict[tuple[str, str], dict[str, Any]]) -> None:
    rows = [(room, device, _json(v.get("identity")), _json(v.get("lamps")), v.get("filter_hours"), v["at"].isoformat())
            for (room, device), v in latest.items()]
    with db:
        db.executemany("""
            INSERT INTO archive_readings(room, device, identity, lamps, filter_hours, read_at) VALUES (?,?,?,?,?,?)
            ON CONFLICT(room, device) DO UPDATE SET
                identity = coalesce(excluded.identity, identity),
                lamps = coalesce(excluded.lamps, lamps),
                filter_hours = coalesce(excluded.filter_hours, filter_hours),
                read_at = excluded.read_at
        """, rows)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _insert_maintenance(db: sqlite3.Connection, room: str, device: str, at: datetime, by: str, note: str,
                        recorded_by: str | None, recorded_at: datetime) -> MaintenanceRecord:
    with db:
        cursor = db.execute(
            "INSERT INTO maintenance(room, device, at, by, note, recorded_by, recorded_at) VALUES (?,?,?,?,?,?,?)",
            (room, device, at.isoformat(), by, note, recorded_by, recorded_at.isoformat()))
    return MaintenanceRecord(id=cursor.lastrowid, room=room, device=device, at=at, by=by, note=note,
                             recorded_by=recorded_by, recorded_at=recorded_at)


def _facts(db: sqlite3.Connection, room: str | None, device: str | None, shown: int) -> dict[str, Any]:
    """Readings, fault and maintenance counts (and the latest ``shown`` of each) for one or every device."""
    where, args = "", []
    if room is not None:
        where, args = " AND room = ? AND device = ?", [room, device]
    readings = {}
    readings_sql = "SELECT room, device, identity, lamps, filter_hours, read_at FROM archive_readings WHERE 1=1"
    for r, d, identity, lamps, filter_hours, read_at in db.execute(readings_sql + where, args):
        readings[(r, d)] = {"identity": json.loads(identity) if identity else None,
                            "lamps": json.loads(lamps) if lamps else None,
                            "filter_hours": filter_hours, "read_at": read_at}
    fault_sql = ("FROM events WHERE kind IN ('status', 'error') AND room IS NOT NULL AND device IS NOT NULL" + where +
                 " AND (kind = 'error' OR (kind = 'status' AND json_extract(data, '$.status') IN (?, ?)))")
    fault_args = args + list(FAULT_STATUSES)
    faults = {(r, d): {"count": n, "last": last, "shown": []} for r, d, n, last in db.execute(
        f"SELECT room, device, count(*), max(at) {fault_sql} GROUP BY room, device", fault_args)}
    if shown:
        for r, d, at, kind, data in db.execute(
                f"SELECT room, device, at, kind, data {fault_sql} ORDER BY seq DESC LIMIT ?", fault_args + [shown]):
            faults[(r, d)]["shown"].append(_fault(at, kind, json.loads(data)))
    maintenance = {(r, d): {"count": n, "last": last, "shown": []} for r, d, n, last in db.execute(
        "SELECT room, device, count(*), max(at) FROM maintenance WHERE 1=1" + where + " GROUP BY room, device", args)}
    if shown:
        for row in db.execute("SELECT id, room, device, at, by, note, recorded_by, recorded_at FROM maintenance"
                              " WHERE 1=1" + where + " ORDER BY at DESC, id DESC LIMIT ?", args + [shown]):
            maintenance[(row[1], row[2])]["shown"].append(dict(zip(
                ("id", "room", "device", "at", "by", "note", "recorded_by", "recorded_at"), row)))
    # Each device's last status (the archive offline); "kind IN (...)" lets SQLite use the partial index.
    statuses = {(r, d): status for r, d, status in db.execute(
        "SELECT room, device, json_extract(data, '$.status') FROM events WHERE seq IN "
        "(SELECT max(seq) FROM events WHERE kind IN ('status', 'error') AND kind = 'status'" + where +
        " GROUP BY room, device)", args)}
    return {"readings": readings, "faults": faults, "maintenance": maintenance, "statuses": statuses}


def _fault(at: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    if kind == "status":
        return {"at": at, "kind": data.get("status"), "detail": data.get("reason")}
    command = (data.get("command") or {}).get("type")
    detail = f"{data.get('error')}: {data.get('detail')}" + (f" (command {command})" if command else "")
    return {"at": at, "kind": "error", "detail": detail}
