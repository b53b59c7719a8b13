"""The desk as a user runs it: `roomctl serve` with a kiosk section, killed mid-burst and
restarted; `roomctl kiosk ...` commands; `roomctl sim scanner --pty`."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openpyxl

from desks import TOKENS, make_desk, site_yaml

ROOMCTL = [sys.executable, "-m", "controller.cli"]
START_TIMEOUT = 30.0  # a Python process importing FastAPI and opening its store
BURST_ATTENDEES = 3000


def start_desk(config: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([*ROOMCTL, "serve", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "API at " in line:
            return process, line.split("API at ")[1].split()[0]
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the desk did not start: {process.stderr.read()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def test_every_check_in_answered_ok_survives_killing_the_desk_mid_burst(tmp_path):
    rows = "\n".join(f"K{i:05d},参会者{i},单位{i % 40},,R{i // 100}-{i % 100 + 1},plenary,,"
                     for i in range(BURST_ATTENDEES))
    desk = make_desk(tmp_path, csv_text="id,name,organisation,title,seat,lists,vip,blocked\n" + rows + "\n")
    badges = [desk.badge(f"K{i:05d}") for i in range(BURST_ATTENDEES)]
    config = tmp_path / "desk.yaml"
    config.write_text(site_yaml(tmp_path))
    process, url = start_desk(config)
    answered_ok: list[str] = []
    killed = asyncio.Event()

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        for i in range(offset, BURST_ATTENDEES, 16):
            if killed.is_set():
                return
            nonce = f"burst-{i}"
            try:
                response = await client.post("/api/kiosk/scans", json={"code": badges[i], "nonce": nonce})
            except httpx.HTTPError:
                return  # the desk is gone: this scan was never answered
            if response.status_code == 200 and response.json()["result"] == "ok":
                answered_ok.append(nonce)

    async def killer() -> None:
        while len(answered_ok) < 300:
            await asyncio.sleep(0.005)  # polling our own counter, not waiting on the desk
        os.kill(process.pid, signal.SIGKILL)  # mid-burst: 16 requests are in flight
        killed.set()

    try:
        async with httpx.AsyncClient(base_url=url, timeout=10,
                                     headers={"Authorization": f"Bearer {TOKENS['kiosk']}"}) as client:
            await asyncio.wait_for(asyncio.gather(killer(), *[worker(client, k) for k in range(16)]), 60)
        process.wait(10)
        assert process.returncode == -signal.SIGKILL
        assert 300 <= len(answered_ok) < BURST_ATTENDEES
        db = sqlite3.connect(desk.path)
        stored = {n for (n,) in db.execute("SELECT nonce FROM checkins")}
        db.close()
        assert set(answered_ok) <= stored  # every "ok" on a screen is on disk
        process, url = start_desk(config)  # restarted, the desk knows them all: a retry is the same check-in
        async with httpx.AsyncClient(base_url=url, timeout=10,
                                     headers={"Authorization": f"Bearer {TOKENS['kiosk']}"}) as client:
            nonce = answered_ok[-1]
            i = int(nonce.split("-")[1])
            again = (await client.post("/api/kiosk/scans", json={"code": badges[i], "nonce": nonce})).json()
            assert again["result"] == "ok" and again["repeated"]
            other = (await client.post("/api/kiosk/scans", json={"code": badges[i], "nonce": "after-restart"})).json()
            assert other["result"] == "already_checked_in"
            status = (await client.get("/api/kiosk/status", headers={"Authorization": f"Bearer {TOKENS['staff']}"})).json()
            assert status["counts"][0]["signed_in"] == len(stored)
    finally:
        stop(process)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ROOMCTL, *args], capture_output=True, text=True, timeout=60, input=stdin)


def test_the_organiser_imports_rotates_keys_makes_badges_and_exports_from_the_command_line(tmp_path):
    config = tmp_path / "desk.yaml"
    config.write_text(site_yaml(tmp_path))
    sheet = tmp_path / "attendees.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["编号", "姓名", "单位", "座位", "贵宾"])
    book.active.append(["S1", "周杰", "文化馆", "A-1", "是"])
    book.active.append(["S2", "吴芳", "图书馆", "A-2", ""])
    book.save(sheet)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\nS1,好\nS1,重复\n,无编号\n", encoding="utf-8")
    refused = run("kiosk", "import", str(config), str(bad))
    assert refused.returncode == 1
    assert "line 3: id S1 already on line 2" in refused.stderr and "line 4: no id" in refused.stderr
    assert run("kiosk", "import", str(config), str(sheet)).stdout.strip().endswith("2 added, 0 updated")
    assert "key 1 is active" in run("kiosk", "keys", str(config), "new").stdout
    badges = run("kiosk", "badges", str(config), "--out", str(tmp_path / "badges"))
    assert badges.returncode == 0, badges.stderr
    assert (tmp_path / "badges" / "S1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "badges" / "badges.html").read_text()
    assert "周杰" in page and "<svg" in page
    assert "key 2 is active" in run("kiosk", "keys", str(config), "new").stdout
    assert "retired" in run("kiosk", "keys", str(config), "retire", "1").stdout
    revoked = run("kiosk", "revoke", str(config), "S2", "--reissue")
    assert "revoked" in revoked.stdout and "new badge reference" in revoked.stdout
    assert run("kiosk", "export", str(config), str(tmp_path / "sheet.xlsx")).returncode == 0
    assert openpyxl.load_workbook(tmp_path / "sheet.xlsx").active["B2"].value in ("周杰", "吴芳")
    pin = run("kiosk", "pin", stdin="135790\n")
    assert pin.stdout.startswith("scrypt$")


def test_badges_print_to_pdf_with_chromium(tmp_path):
    desk = make_desk(tmp_path)
    config = tmp_path / "desk.yaml"
    config.write_text(site_yaml(tmp_path))
    done = run("kiosk", "badges", str(config), "--out", str(tmp_path / "print"), "--pdf")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "print" / "badges.pdf").read_bytes()[:5] == b"%PDF-"
    assert desk.config.id == "desk-1"


def test_the_scanner_simulator_types_codes_on_its_pty():
    process = subprocess.Popen([*ROOMCTL, "sim", "scanner", "--pty", "--symbology"], stdout=subprocess.PIPE,
                               stdin=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("listening /dev/pts/"), line
        port = os.open(line.split()[1], os.O_RDWR | os.O_NOCTTY)
        try:
            process.stdin.write("scan AEAQAB7Z\n")
            process.stdin.flush()
            assert process.stdout.readline().strip() == "scanned"
            received = b""
            deadline = time.monotonic() + 5
            while not received.endswith(b"\r") and time.monotonic() < deadline:
                received += os.read(port, 64)
            assert received == b"]Q1AEAQAB7Z\r"
        finally:
            os.close(port)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
