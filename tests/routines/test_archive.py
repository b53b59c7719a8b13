"""The equipment archive (设备档案) on a simulated room: identity and lamp hours read from the
projector, faults from the event log, maintenance entered over the API and the CLI, CSV export."""

import asyncio
import csv
import io
import sys
import textwrap

import httpx
import pytest

from controller.app import Controller
from controller.cli import main as roomctl_main
from controller.config import load_config
from drivers.status import Status
from helpers import wait_for_status

TECH = "archive-technician-token-0123"
KIOSK = "archive-kiosk-desk-token-01234"
HYPERLINK = '=HYPERLINK("http://example.invalid","click")'  # what a hostile name would make a spreadsheet run


def write_site(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(textwrap.dedent(f"""\
        site: venue
        store: venue.sqlite3
        schedule: {{timezone: Asia/Shanghai}}
        api:
          port: 0
          tokens:
            - {{name: Li Wei, token: {TECH}, role: technician}}
            - {{name: desk-1, token: {KIOSK}, role: kiosk}}
        rooms:
          - id: hall
            devices:
              - id: proj
                driver: pjlink
                name: Main projector
                function: Main screen, stage left
                installed: 2023-05-01
                simulate: true
                timeout: 0.5
                poll_interval: 0.2
                simulator: {{lamp_hours: 1234, filter_hours: 321, serial_number: SN-4711, software_version: "1.2.3",
                             manufacturer: ACME, model: PJ-9000}}
              - id: side
                driver: escvp21
                name: '{HYPERLINK}'
                simulate: true
                timeout: 0.5
                poll_interval: 0.2
        """))
    return path


@pytest.fixture
async def venue(tmp_path):
    config_path = write_site(tmp_path)
    controller = Controller(load_config(config_path))
    await controller.start()
    assert not await controller.wait_until_online(10)
    controller.config_path = config_path
    yield controller
    await controller.stop()


@pytest.fixture
async def client(venue):
    async with httpx.AsyncClient(base_url=venue.url, timeout=10) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def archive_of(client, device: str = "hall/proj") -> dict:
    response = await client.get(f"/api/archive/{device}")
    assert response.status_code == 200, response.text
    return response.json()


async def roomctl(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI's own entry point, in a thread: the controller in this event loop keeps answering."""
    capsys.readouterr()
    code = await asyncio.to_thread(roomctl_main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_archive_rows_carry_identity_and_lamp_hours_read_from_the_projector(client):
    rows = {}

    async def identity_and_hours_read() -> bool:
        rows.update({(r["room"], r["device"]): r for r in (await client.get("/api/archive")).json()})
        return rows[("hall", "proj")]["lamp_hours"] and rows[("hall", "proj")]["serial_number"]

    await wait_until_async(identity_and_hours_read, within=5, what="identity and lamp hours")
    proj = rows[("hall", "proj")]
    assert {k: proj[k] for k in ("name", "function", "installed", "manufacturer", "model", "serial_number",
                                 "firmware", "lamp_hours", "filter_hours", "status", "live")} == {
        "name": "Main projector", "function": "Main screen, stage left", "installed": "2023-05-01",
        "manufacturer": "ACME", "model": "PJ-9000", "serial_number": "SN-4711", "firmware": "1.2.3",
        "lamp_hours": [1234], "filter_hours": 321, "status": "online", "live": True,
    }
    side = rows[("hall", "side")]
    assert (side["driver"], side["manufacturer"], side["filter_hours"]) == ("escvp21", "Epson", None)
    assert list(rows) == [("hall", "proj"), ("hall", "side")]  # config order


async def test_a_technician_adds_maintenance_over_the_api_and_sees_it_in_the_history(client, venue):
    response = await client.post("/api/archive/hall/proj/maintenance", headers=auth(TECH),
                                 json={"by": "Zhang San", "note": "Cleaned the filter", "at": "2025-03-10T14:30"})
    assert response.status_code == 201, response.text
    record = response.json()
    assert (record["by"], record["note"], record["recorded_by"]) == ("Zhang San", "Cleaned the filter", "Li Wei")
    assert record["at"] == "2025-03-10T14:30:00+08:00"  # no offset given: the site's time
    second = await client.post("/api/archive/hall/proj/maintenance", headers=auth(TECH),
                               json={"by": "Zhang San", "note": "Replaced the lamp (LMP-SIM1)"})
    assert second.status_code == 201
    proj = await archive_of(client)
    assert proj["maintenance_count"] == 2
    assert [m["note"] for m in proj["maintenance"]] == ["Replaced the lamp (LMP-SIM1)", "Cleaned the filter"]
    assert (await archive_of(client, "hall/side"))["maintenance_count"] == 0


@pytest.mark.parametrize("headers, body, status, message", [
    (auth(KIOSK), {"by": "x", "note": "y"}, 403, "a kiosk token may not add maintenance entries"),
    ({}, {"by": "x", "note": "y"}, 401, "a bearer token is required"),
    (auth(TECH), {"by": "Zhang San", "note": "   "}, 422, None),
    (auth(TECH), {"by": "Zhang San", "note": "lamp", "at": "2025-13-40"}, 422, None),
    (auth(TECH), {"by": "Zhang San", "note": "lamp", "at": "2099-01-01T09:00"}, 422, "at: 2099-01-01T09:00:00+08:00 "
                                                                                      "is in the future"),
])
async def test_bad_maintenance_requests_record_nothing(client, venue, headers, body, status, message):
    response = await client.post("/api/archive/hall/proj/maintenance", headers=headers, json=body)
    assert response.status_code == status, response.text
    if message is not None:
        assert response.json()["message"].startswith(message)
    assert await maintenance_rows(venue) == 0


async def test_maintenance_for_an_unknown_device_is_404_and_records_nothing(client, venue):
    for path in ("/api/archive/hall/nope/maintenance", "/api/archive/attic/proj/maintenance"):
        response = await client.post(path, headers=auth(TECH), json={"by": "Zhang San", "note": "lamp"})
        assert response.status_code == 404
        room, device = path.split("/")[3:5]
        assert response.json()["message"].startswith(f"no device {room}/{device} in this site")
        assert "hall/proj, hall/side" in response.json()["message"]
    assert (await client.get("/api/archive/hall/nope")).status_code == 404
    assert await maintenance_rows(venue) == 0


async def maintenance_rows(controller) -> int:
    return (await controller.store.call(lambda db: db.execute("SELECT count(*) FROM maintenance").fetchone()))[0]


async def test_a_projector_going_offline_enters_its_fault_history(client, venue):
    runtime = venue.site.device("hall", "proj")
    sim = next(s for s in venue.simulators if s.protocol == "pjlink")
    sim.inject("no_reply")
    await wait_for_status(runtime.supervisor, Status.OFFLINE, within=5)
    sim.clear_faults()
    await wait_for_status(runtime.supervisor, Status.ONLINE, within=5)
    entry = {}

    async def fault_logged() -> bool:
        entry.update(await archive_of(client))
        return entry["fault_count"] >= 1

    await wait_until_async(fault_logged, within=5, what="the offline spell in the archive")
    fault = entry["faults"][0]
    assert fault["kind"] == "offline" and fault["detail"]
    assert entry["last_fault_at"] == fault["at"]
    assert (await archive_of(client, "hall/side"))["fault_count"] == 0


async def test_csv_export_has_a_row_per_device_and_no_formulas(client):
    await wait_until_async(lambda: _lamp_hours_known(client), within=5, what="lamp hours")
    response = await client.get("/api/archive.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="venue-archive.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel then reads UTF-8
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [(r["room"], r["device"]) for r in rows] == [("hall", "proj"), ("hall", "side")]
    proj, side = rows
    assert (proj["serial_number"], proj["lamp_hours"], proj["filter_hours"], proj["installed"], proj["faults"]) == (
        "SN-4711", "1234", "321", "2023-05-01", "0")
    assert side["name"] == "'" + HYPERLINK  # text in a spreadsheet, not a formula


async def _lamp_hours_known(client) -> bool:
    return bool((await archive_of(client))["lamp_hours"])


async def test_the_archive_commands_talk_to_the_running_controller(client, venue, capsys, tmp_path):
    url = venue.url
    code, out, err = await roomctl(capsys, "archive", "add-maintenance", "hall/proj", "--by", "Zhang San",
                                   "--note", "Replaced the lamp", "--url", url, "--token", TECH)
    assert code == 0, err
    assert out.startswith("recorded #1: hall/proj ") and out.rstrip().endswith("by Zhang San: Replaced the lamp")
    await wait_until_async(lambda: _lamp_hours_known(client), within=5, what="lamp hours")

    code, out, err = await roomctl(capsys, "archive", "list", "--url", url)
    assert code == 0, err
    header, rule, proj, side = out.splitlines()
    assert header.split() == ["room", "device", "name", "model", "serial", "firmware", "lamp", "h", "filter", "h",
                              "status", "faults", "maint."]
    assert proj.split() == ["hall", "proj", "Main", "projector", "PJ-9000", "SN-4711", "1.2.3", "1234", "321",
                            "online", "0", "1"]

    code, out, err = await roomctl(capsys, "archive", "show", "hall/proj", "--url", url)
    assert code == 0, err
    assert "function     Main screen, stage left" in out
    assert "serial       SN-4711" in out
    assert "installed    2023-05-01" in out
    assert "maintenance (1):" in out and "Zhang San: Replaced the lamp" in out

    exported = tmp_path / "archive.csv"
    code, out, err = await roomctl(capsys, "archive", "export", "--output", str(exported), "--url", url)
    assert code == 0, err
    assert err.strip() == f"2 devices → {exported}"
    rows = list(csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8-sig"))))
    assert (rows[0]["device"], rows[0]["maintenance"], rows[0]["lamp_hours"]) == ("proj", "1", "1234")


@pytest.mark.parametrize("args, message", [
    (["hall/nope", "--by", "Zhang San", "--note", "lamp"], "roomctl: 404: no device hall/nope in this site"),
    (["hall-proj", "--by", "Zhang San", "--note", "lamp"], "roomctl: 'hall-proj': name the device as ROOM/DEVICE"),
    (["hall/proj", "--by", "Zhang San", "--note", "lamp", "--at", "yesterday"],
     "roomctl: --at: 'yesterday' is not a date or time"),
    (["hall/proj", "--by", " ", "--note", "lamp"], "roomctl: 422: by: Value error, must not be blank"),
])
async def test_add_maintenance_refuses_bad_input_and_records_nothing(venue, capsys, args, message):
    code, out, err = await roomctl(capsys, "archive", "add-maintenance", *args, "--url", venue.url, "--token", TECH)
    assert code == 2
    assert err.startswith(message), err
    assert await maintenance_rows(venue) == 0


async def test_add_maintenance_from_a_shell_as_a_technician_types_it(venue):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli", "archive", "add-maintenance", "hall/side", "--by", "王工",
        "--note", "更换滤网", "--url", venue.url, env={"ROOMCTL_TOKEN": TECH, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().rstrip().endswith("by 王工: 更换滤网")
    assert await maintenance_rows(venue) == 1


async def test_the_archive_reads_offline_from_the_store_after_the_controller_stops(tmp_path, capsys):
    config_path = write_site(tmp_path)
    controller = Controller(load_config(config_path))
    await controller.start()
    try:
        assert not await controller.wait_until_online(10)
        async with httpx.AsyncClient(base_url=controller.url, timeout=10) as client:
            await wait_until_async(lambda: _lamp_hours_known(client), within=5, what="lamp hours")
            await client.post("/api/archive/hall/proj/maintenance", headers=auth(TECH),
                              json={"by": "Zhang San", "note": "Replaced the lamp"})
    finally:
        await controller.stop()
    code, out, err = await roomctl(capsys, "archive", "show", "hall/proj", "--config", str(config_path))
    assert code == 0, err
    assert "serial       SN-4711" in out and "lamp hours   1234" in out
    assert "(last known)" in out
    assert "Zhang San: Replaced the lamp" in out
    code, out, err = await roomctl(capsys, "archive", "list", "--config", str(config_path))
    assert code == 0, err
    assert out.splitlines()[-1] == "* last known status, from the store: the controller is not running"
    code, out, err = await roomctl(capsys, "archive", "export", "--config", str(config_path))
    assert code == 0, err
    assert out.splitlines()[1].startswith("hall,proj,Main projector,")
    code, out, err = await roomctl(capsys, "archive", "show", "hall/gone", "--config", str(config_path))
    assert code == 2 and err.startswith("roomctl: no device hall/gone in this site")


def test_offline_reads_need_a_store_that_exists(tmp_path, capsys):
    config_path = write_site(tmp_path)
    code = roomctl_main(["archive", "list", "--config", str(config_path)])
    assert code == 2
    assert capsys.readouterr().err.startswith(f"roomctl: no store at {tmp_path / 'venue.sqlite3'}")


async def wait_until_async(condition, *, within: float, what: str) -> None:
    """Like helpers.wait_until, for a condition that must ask over HTTP."""
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {within:g} s")
        await asyncio.sleep(0.05)
