"""The desk's API served by the controller, over real HTTP: roles, typed errors, exports."""

from __future__ import annotations

import csv
import dataclasses
import io

import httpx
import openpyxl
import pytest

from controller.app import Controller
from controller.config import parse_config
from desks import TOKENS, make_desk, nonce, site_yaml
from kiosk.checkin import AttendeeCard, Decision, Entry, apply_entries


@pytest.fixture
async def desk_api(tmp_path):
    desk = make_desk(tmp_path)  # the organiser's data, in the store the config names
    controller = Controller(parse_config(site_yaml(tmp_path)))
    await controller.start()
    async with httpx.AsyncClient(base_url=controller.url, timeout=10) as client:
        yield client, desk, controller
    await controller.stop()


def auth(role: str) -> dict:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


async def test_a_kiosk_token_checks_in_and_searches_and_nothing_else(desk_api):
    client, desk, _ = desk_api
    scan = await client.post("/api/kiosk/scans", json={"code": desk.badge("A002"), "nonce": nonce()}, headers=auth("kiosk"))
    assert scan.status_code == 200, scan.text
    assert scan.json()["result"] == "ok" and scan.json()["attendee"]["name"] == "李娜"
    found = await client.get("/api/kiosk/search", params={"q": "李娜"}, headers=auth("kiosk"))
    assert found.json() == [{"attendee_id": "A002", "name": "李娜", "organisation": "上海会展中心", "seat": "A-2"}]
    for path in ("/api/kiosk/status", "/api/kiosk/attendees", "/api/kiosk/export.csv", "/api/kiosk/export.xlsx"):
        refused = await client.get(path, headers=auth("kiosk"))
        assert refused.status_code == 403, path
        assert refused.json()["error"] == "Forbidden"


async def test_staff_see_names_but_only_admin_exports(desk_api):
    client, desk, _ = desk_api
    await client.post("/api/kiosk/scans", json={"code": desk.badge("A001"), "nonce": nonce()}, headers=auth("kiosk"))
    status = await client.get("/api/kiosk/status", headers=auth("staff"))
    assert status.status_code == 200
    assert status.json()["vip_arrivals"][0]["name"] == "张伟"
    assert (await client.get("/api/kiosk/export.csv", headers=auth("staff"))).status_code == 403
    assert (await client.get("/api/kiosk/attendees", headers=auth("staff"))).status_code == 403
    assert (await client.get("/api/kiosk/status", headers=auth("technician"))).status_code == 403
    assert (await client.post("/api/kiosk/scans", json={"code": "x", "nonce": "n"}, headers=auth("technician"))).status_code == 403
    assert (await client.get("/api/kiosk/status")).status_code == 401


async def test_the_sign_in_sheet_exports_as_csv_and_xlsx_with_times_and_desk(desk_api):
    client, desk, _ = desk_api
    await client.post("/api/kiosk/scans", json={"code": desk.badge("A002"), "nonce": nonce()}, headers=auth("kiosk"))
    sheet = await client.get("/api/kiosk/export.csv", headers=auth("admin"))
    assert sheet.status_code == 200 and "attachment" in sheet.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号 ID", "姓名 Name", "单位 Organisation"]
    li_na = next(r for r in rows if r[0] == "A002")
    assert li_na[1] == "李娜" and li_na[6] and li_na[7] == "desk-1"
    workbook = await client.get("/api/kiosk/export.xlsx", headers=auth("admin"))
    book = openpyxl.load_workbook(io.BytesIO(workbook.content))
    values = [[c.value for c in row] for row in book.active.iter_rows()]
    assert any(row[0] == "A002" and row[7] == "desk-1" for row in values)


async def test_bad_requests_get_typed_errors_and_store_nothing(desk_api):
    client, desk, controller = desk_api
    cases = [
        ({"code": desk.badge("A002"), "nonce": "bad nonce!"}, 422, "nonce"),
        ({"code": desk.badge("A002"), "nonce": nonce(), "list": "gala"}, 422, "list"),
        ({"code": "A" * 5000, "nonce": nonce()}, 422, None),  # over the request limit
    ]
    for body, status, field in cases:
        response = await client.post("/api/kiosk/scans", json=body, headers=auth("kiosk"))
        assert response.status_code == status, response.text
        if field:
            assert response.json()["field"] == field
    wrong_pin = await client.post("/api/kiosk/overrides", json={"pin": "1111", "nonce": nonce(), "reason": "no badge",
                                                                "attendee_id": "A003"}, headers=auth("kiosk"))
    assert wrong_pin.status_code == 403 and wrong_pin.json()["error"] == "PinRejected"
    forged = await client.post("/api/kiosk/overrides", json={"pin": "246810", "nonce": nonce(), "reason": "r",
                                                             "code": desk.badge("A003")[:-4] + "AAAA"}, headers=auth("kiosk"))
    assert forged.status_code == 422 and forged.json()["field"] == "code"
    unknown = await client.post("/api/kiosk/overrides", json={"pin": "246810", "nonce": nonce(), "reason": "r",
                                                              "attendee_id": "Z999"}, headers=auth("kiosk"))
    assert unknown.status_code == 404
    counts = (await client.get("/api/kiosk/status", headers=auth("staff"))).json()["counts"][0]
    assert counts["signed_in"] == 0


async def test_the_big_screen_shows_seats_not_names(desk_api):
    client, desk, _ = desk_api
    await client.post("/api/kiosk/scans", json={"code": desk.badge("A003"), "nonce": nonce()}, headers=auth("kiosk"))
    screen = (await client.get("/api/kiosk/screen", headers=auth("kiosk"))).json()
    assert screen["counts"]["present"] == 1
    seats = {s["seat"]: s["in"] for row in screen["rows"] for s in row["seats"]}
    assert seats["A-3"] is True and seats["A-1"] is False
    assert "王芳" not in str(screen)


async def test_answers_are_the_desk_s_own_views_whole_with_no_key_dropped_or_added(desk_api):
    """The response models (kiosk/api_models.py) check and document the answers; the pages still
    get every key the desk builds, and no null where a key was absent (sync off: connected only)."""
    client, desk, controller = desk_api
    scan = (await client.post("/api/kiosk/scans", json={"code": desk.badge("A002"), "nonce": nonce()},
                              headers=auth("kiosk"))).json()
    assert scan.keys() == {f.name for f in dataclasses.fields(Decision)} | {"colour"}
    assert scan["attendee"].keys() == {f.name for f in dataclasses.fields(AttendeeCard)}
    # Another desk let 李娜 in too, as replication would bring it: a conflict on the staff page.
    other = Entry("desk-9.1", 1, nonce(), scan["attendee"]["ref"], "plenary", "in", scan["at"], "desk-9")
    await controller.kiosk.store.write(lambda db: apply_entries(db, other.origin, [other]))

    status = (await client.get("/api/kiosk/status", headers=auth("staff"))).json()
    assert status == await controller.kiosk.staff_view()
    assert status["sync"] == {"connected": None} and status["conflicts"][0]["revoked"] is False
    assert status["badges"]["keys"] == [{"id": 1, "retired": False}]
    assert (await client.get("/api/kiosk/screen", headers=auth("kiosk"))).json() == await controller.kiosk.screen_view()
    assert (await client.get("/api/kiosk/search", params={"q": "Zhang"}, headers=auth("kiosk"))).json() == \
        await controller.kiosk.search("Zhang")
    assert (await client.get("/api/kiosk/attendees", headers=auth("admin"))).json() == \
        await controller.kiosk.attendees()
