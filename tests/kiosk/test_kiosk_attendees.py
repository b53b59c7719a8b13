"""Attendees from spreadsheets: every bad row reported by its line, and all rows or none."""

from __future__ import annotations

import sqlite3

import openpyxl
import pytest

from desks import ATTENDEES_CSV, kiosk_config
from kiosk.admin import export_pack, import_attendees, new_key, revoke
from kiosk.errors import ImportRejected
from kiosk.store import KioskStore


@pytest.fixture
def blank(tmp_path):
    config = kiosk_config()
    store = KioskStore(tmp_path / "desk.sqlite3")
    store.initialise()
    return config, store


def count(store: KioskStore) -> int:
    db = sqlite3.connect(store.path)
    try:
        return db.execute("SELECT COUNT(*) FROM attendees").fetchone()[0]
    finally:
        db.close()


def test_a_csv_of_attendees_imports_with_lists_vip_and_blocked(blank, tmp_path):
    config, store = blank
    source = tmp_path / "attendees.csv"
    source.write_text(ATTENDEES_CSV, encoding="utf-8")
    report = import_attendees(store, config, source)
    assert (report.added, report.updated) == (6, 0)
    db = sqlite3.connect(store.path)
    assert db.execute("SELECT name, seat, vip FROM attendees WHERE id = 'A001'").fetchone() == ("张伟", "A-1", 1)
    assert db.execute("SELECT blocked FROM attendees WHERE id = 'A006'").fetchone() == (1,)
    assert sorted(db.execute("SELECT list FROM memberships WHERE attendee = 'A001'")) == [("dinner",), ("plenary",)]


def test_an_xlsx_with_chinese_headers_imports_like_the_csv(blank, tmp_path):
    config, store = blank
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["编号", "姓名", "单位", "职务", "座位", "签到名单", "贵宾"])
    sheet.append([1001, "赵敏", "市政府办公厅", "主任", "A-1", "plenary", "是"])
    sheet.append([1002, "钱进", "交通银行", "", "A-2", "plenary，dinner", ""])
    sheet.append([None, None, None, None, None, None, None])  # the empty rows spreadsheets end with
    book.save(tmp_path / "名单.xlsx")
    report = import_attendees(store, config, tmp_path / "名单.xlsx")
    assert report.added == 2
    db = sqlite3.connect(store.path)
    assert db.execute("SELECT id, name, vip FROM attendees ORDER BY id").fetchall() == [("1001", "赵敏", 1), ("1002", "钱进", 0)]
    assert db.execute("SELECT COUNT(*) FROM memberships WHERE attendee = '1002'").fetchone() == (2,)


def test_a_csv_saved_by_excel_in_gb18030_imports(blank, tmp_path):
    config, store = blank
    source = tmp_path / "gbk.csv"
    source.write_bytes("编号,姓名,单位\nG1,孙丽,国家电网\n".encode("gb18030"))
    import_attendees(store, config, source)
    assert count(store) == 1


def test_every_bad_row_is_reported_by_line_and_nothing_is_imported(blank, tmp_path):
    config, store = blank
    source = tmp_path / "bad.csv"
    source.write_text(
        "id,name,organisation,seat,lists,vip\n"
        "B1,好人,单位,A-1,plenary,\n"          # line 2: good
        ",无编号,单位,A-2,plenary,\n"          # line 3: no id
        "B3,,单位,A-3,plenary,\n"              # line 4: no name
        "B1,重复,单位,A-4,plenary,\n"          # line 5: duplicate id
        "B6,名单错,单位,A-5,gala,\n"           # line 6: unknown list
        "B7,贵宾错,单位,A-6,plenary,maybe\n"   # line 7: bad VIP flag
        "B8,同座,单位,A-1,plenary,\n",         # line 8: seat taken on line 2
        encoding="utf-8")
    with pytest.raises(ImportRejected) as rejected:
        import_attendees(store, config, source)
    lines = sorted({line for line, _ in rejected.value.problems})
    assert lines == [3, 4, 5, 6, 7, 8]
    report = rejected.value.report()
    assert "line 5: id B1 already on line 2" in report
    assert "unknown list(s) gala" in report
    assert "seat A-1 on plenary already given on line 2" in report
    assert count(store) == 0  # not even line 2


def test_a_sheet_without_the_required_columns_is_refused(blank, tmp_path):
    config, store = blank
    source = tmp_path / "wrong.csv"
    source.write_text("姓名,单位\n张三,某单位\n", encoding="utf-8")
    with pytest.raises(ImportRejected, match="problem"):
        import_attendees(store, config, source)
    source.write_bytes(b"PK\x03\x04 this is no workbook")
    with pytest.raises(ImportRejected):
        import_attendees(store, config, source.rename(tmp_path / "broken.xlsx"))
    assert count(store) == 0


def test_reimporting_keeps_badge_references_and_updates_details(blank, tmp_path):
    config, store = blank
    source = tmp_path / "attendees.csv"
    source.write_text(ATTENDEES_CSV, encoding="utf-8")
    import_attendees(store, config, source)
    db = sqlite3.connect(store.path)
    before = dict(db.execute("SELECT id, ref FROM attendees"))
    source.write_text(ATTENDEES_CSV.replace("A-2,plenary", "C-9,plenary"), encoding="utf-8")
    report = import_attendees(store, config, source)
    assert (report.added, report.updated) == (0, 6)
    assert dict(db.execute("SELECT id, ref FROM attendees")) == before  # printed badges stay good
    assert db.execute("SELECT seat FROM attendees WHERE id = 'A002'").fetchone() == ("C-9",)


def test_photos_come_from_the_photos_folder_and_must_be_images(blank, tmp_path):
    config, store = blank
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a1.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    (tmp_path / "photos" / "fake.jpg").write_bytes(b"<script>")
    source = tmp_path / "photos.csv"
    source.write_text("id,name,photo\nP1,有照片,a1.jpg\nP2,假照片,fake.jpg\nP3,越界,../etc/passwd\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as rejected:
        import_attendees(store, config, source)
    assert [line for line, _ in rejected.value.problems] == [3, 4]
    source.write_text("id,name,photo\nP1,有照片,a1.jpg\n", encoding="utf-8")
    import_attendees(store, config, source)
    assert sqlite3.connect(store.path).execute("SELECT photo_type FROM attendees").fetchone() == ("image/jpeg",)


def test_the_event_pack_carries_refs_keys_and_revocations_to_another_desk(blank, tmp_path):
    config, store = blank
    source = tmp_path / "attendees.csv"
    source.write_text(ATTENDEES_CSV, encoding="utf-8")
    import_attendees(store, config, source)
    new_key(store)
    revoke(store, "A003", reason="lost", reissue=True)
    export_pack(store, config, tmp_path / "pack.json")
    other = KioskStore(tmp_path / "desk-2.sqlite3")
    import_attendees(other, kiosk_config("desk-2"), tmp_path / "pack.json")
    mine, theirs = sqlite3.connect(store.path), sqlite3.connect(other.path)
    query = "SELECT id, ref FROM attendees ORDER BY id"
    assert mine.execute(query).fetchall() == theirs.execute(query).fetchall()
    assert theirs.execute("SELECT COUNT(*) FROM revoked").fetchone() == (1,)
    assert theirs.execute("SELECT key_id, state, private FROM badge_keys").fetchall() == [(1, "verify", None)]
