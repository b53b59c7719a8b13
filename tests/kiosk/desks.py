"""Sign-in desks for the tests: config, store, keys and attendees on real SQLite, in one line."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from drivers.transports.mqtt import BrokerSettings
from helpers import wait_until
from kiosk.admin import export_pack, import_attendees, new_key
from kiosk.checkin import load_keyring
from kiosk.config import KioskConfig
from kiosk.service import KioskService
from kiosk.store import KioskStore
from mqtt_legs import unique

EVENT = 2024
PIN = "246810"
SECRET = "kiosk-sync-secret-for-tests-0123"
# The meeting of the tests: sign-in opens 07:30, starts 09:00, closes 12:00 (Beijing time).
CST = timezone(timedelta(hours=8))
OPENS = datetime(2025, 6, 1, 7, 30, tzinfo=CST)
STARTS = datetime(2025, 6, 1, 9, 0, tzinfo=CST)
CLOSES = datetime(2025, 6, 1, 12, 0, tzinfo=CST)
# Heads go out every second by default; fleets in tests beat faster, so healing shows within a few.
FLEET_BEAT = 0.2
HEAL = 10.0
REPLICATED = 5.0

ATTENDEES_CSV = """id,name,organisation,title,seat,lists,vip,blocked
A001,张伟,华东电力设计院,总工程师,A-1,plenary;dinner,是,
A002,李娜,上海会展中心,项目经理,A-2,plenary,,
A003,王芳,Acme Consulting,Partner,A-3,plenary,否,
A004,Zhang Wei,Beijing Institute,Engineer,B-1,plenary,,
A005,陈静,北京市政府,处长,B-2,dinner,,
A006,刘洋,某公司,员工,B-3,plenary,,yes
"""


class HandClock:
    """Wall time the test sets: sign-in windows and lateness without waiting."""

    def __init__(self, at: datetime = STARTS - timedelta(minutes=20)) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


def kiosk_config(desk_id: str = "desk-1", *, sync: bool = False, scanners: list | None = None, **extra) -> KioskConfig:
    return KioskConfig.model_validate({
        "id": desk_id, "event": EVENT, "store": f"{desk_id}.sqlite3", "list": "plenary",
        "lists": [{"id": "plenary", "name": "全体大会 Plenary", "opens": OPENS, "starts": STARTS, "closes": CLOSES},
                  {"id": "dinner", "name": "晚宴 Dinner"}],
        "scanners": scanners or [], "supervisor_pin": PIN, "sync": sync,
        "sync_secret": SECRET if sync else None, **extra})


@dataclass
class Desk:
    """A desk's files: its config, store and the organiser's key; badges by attendee id."""

    config: KioskConfig
    path: Path
    refs: dict[str, str] = field(default_factory=dict)
    nonces: itertools.count = field(default_factory=itertools.count)

    @property
    def store(self) -> KioskStore:
        return KioskStore(self.path, durability=self.config.durability)

    def badge(self, attendee_id: str) -> str:
        db = self.store.connect()
        try:
            ref = db.execute("SELECT ref FROM attendees WHERE id = ?", (attendee_id,)).fetchone()[0]
            return load_keyring(db, self.config.event).sign(ref)
        finally:
            db.close()

    def service(self, clock=None, broker=None) -> KioskService:
        return KioskService(self.config, site="test", store_path=self.path, now=clock, broker=broker)


def make_desk(tmp_path: Path, desk_id: str = "desk-1", csv_text: str = ATTENDEES_CSV, *, key: bool = True,
              **config) -> Desk:
    cfg = kiosk_config(desk_id, **config)
    desk = Desk(cfg, tmp_path / f"{desk_id}.sqlite3")
    if key:
        new_key(desk.store)
    source = tmp_path / f"{desk_id}-attendees.csv"
    source.write_text(csv_text, encoding="utf-8")
    import_attendees(desk.store, cfg, source)
    return desk


def nonce() -> str:
    return uuid.uuid4().hex


TOKENS = {"kiosk": "kiosk-token-0123456789abcdef", "staff": "staff-token-0123456789abcdef",
          "admin": "admin-token-0123456789abcdef", "technician": "tech-token-0123456789abcdef"}


def site_yaml(tmp_path: Path, desk_id: str = "desk-1", *, port: int = 0, broker: tuple[str, int] | None = None,
              scanners: str = "[]", sync: bool = False) -> str:
    """A whole site config for a desk machine: one lobby room with no devices, and the kiosk section."""
    mqtt = f"mqtt: {{host: {broker[0]}, port: {broker[1]}}}" if broker else ""
    return f"""\
site: test
name: 测试会议
store: {tmp_path / (desk_id + '-events.sqlite3')}
api:
  port: {port}
  tokens:
    - {{name: {desk_id} page, token: {TOKENS['kiosk']}, role: kiosk}}
    - {{name: desk staff, token: {TOKENS['staff']}, role: staff}}
    - {{name: organiser, token: {TOKENS['admin']}, role: admin}}
    - {{name: av tech, token: {TOKENS['technician']}, role: technician}}
{mqtt}
rooms:
  - id: lobby
kiosk:
  id: {desk_id}
  event: {EVENT}
  store: {desk_id}.sqlite3
  list: plenary
  lists:
    - {{id: plenary, name: 全体大会 Plenary, starts: {STARTS.isoformat()}}}
    - {{id: dinner, name: 晚宴 Dinner}}
  scanners: {scanners}
  supervisor_pin: "{PIN}"
  sync: {'true' if sync else 'false'}
  sync_secret: {SECRET}
  result_seconds: 2
"""


def counts(service: KioskService) -> tuple:
    """(entries, people signed in, conflicts) as the desk's store holds them."""
    db = sqlite3.connect(service.store.path)
    try:
        return (db.execute("SELECT COUNT(*) FROM checkins").fetchone()[0],
                db.execute("SELECT COUNT(DISTINCT ref) FROM checkins WHERE direction = 'in'").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM conflicts").fetchone()[0])
    finally:
        db.close()


async def start_fleet(tmp_path: Path, host: str, port: int, clock: HandClock | None = None):
    """Two syncing desks on a broker: desk-a (the organiser's, with the signing key) and desk-b,
    set up from desk-a's event pack. Returns (desk-a's files, desk-a, desk-b, the site)."""
    site = unique("kiosk")
    first = make_desk(tmp_path, "desk-a", sync=True)
    export_pack(first.store, first.config, tmp_path / "pack.json")
    second = make_desk(tmp_path, "desk-b", sync=True, csv_text="id,name\nX1,占位\n", key=False)
    import_attendees(second.store, second.config, tmp_path / "pack.json")
    clock = clock or HandClock()
    services = []
    for desk in (first, second):
        service = KioskService(desk.config, site=site, store_path=desk.path, now=clock,
                               broker=BrokerSettings(host=host, port=port))
        await service.start()
        service.replicator.head_interval = FLEET_BEAT
        services.append(service)
    for service in services:
        await wait_until(lambda s=service: s.replicator.subscribed, within=REPLICATED, what="desk subscribed")
    return first, services[0], services[1], site
