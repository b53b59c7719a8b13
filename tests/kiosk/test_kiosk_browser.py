"""The pages in a real headless Chromium: a code typed by the scanner simulator on a pty,
read by the desk's serial scanner, decided, committed and drawn on the kiosk page; the
staff page's counts and VIP alert; the big screen's seat map. With ROOMCTL_SCREENSHOTS
set, the screenshots the README shows are refreshed there."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from controller.app import Controller
from controller.config import parse_config
from desks import TOKENS, make_desk, site_yaml
from helpers import wait_until
from kiosk.scanners import ScannerStatus
from simulators.scanner import ScannerSimulator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Screenshots go to a scratch folder unless ROOMCTL_SCREENSHOTS names one (set it to
# docs/screenshots to refresh the README's pictures): a test run must not rewrite the repo.
SHOTS = Path(os.environ.get("ROOMCTL_SCREENSHOTS") or tempfile.mkdtemp(prefix="roomctl-shots-"))
# Scan → drawn takes tens of milliseconds; these bound a broken page, they are not goals.
DRAWN = 5_000  # ms
BACK_TO_READY = 5_000  # ms: the page returns after result_seconds (2 s here)


@pytest.fixture
async def site(tmp_path):
    desk = make_desk(tmp_path)
    scanner = ScannerSimulator(symbology=True)
    await scanner.start()
    scanners = f"[{{id: front, kind: serial, port: {scanner.address}}}]"
    controller = Controller(parse_config(site_yaml(tmp_path, scanners=scanners)))
    await controller.start()
    reader = controller.kiosk.scanners[0]
    await wait_until(lambda: reader.status is ScannerStatus.ONLINE, within=5, what="desk scanner open")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield controller, desk, scanner, browser
        await browser.close()
    await controller.stop()
    await scanner.stop()


async def drawn(page, count: int) -> None:
    """Wait until the page has drawn ``count`` results (the page's CSP forbids wait_for_function's eval)."""
    deadline = asyncio.get_running_loop().time() + DRAWN / 1000
    while await page.evaluate("window.__drawn.length") < count:
        assert asyncio.get_running_loop().time() < deadline, f"{count} results not drawn"
        await asyncio.sleep(0.02)


async def open_page(browser, url: str, size=(1280, 800)):
    page = await browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.set_default_timeout(DRAWN)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    return page, errors


async def test_a_badge_scanned_at_the_desk_shows_name_and_seat_in_green_then_ready_again(site):
    controller, desk, scanner, browser = site
    page, errors = await open_page(browser, f"{controller.url}/kiosk#token={TOKENS['kiosk']}")
    await page.wait_for_selector("body[data-live=on]")
    assert "请扫描代表证" in await page.inner_text("#ready-text")
    assert "token=" not in page.url  # the token left the address bar
    await page.screenshot(path=str(SHOTS / "kiosk-ready.png"))

    await scanner.scan(desk.badge("A002"))
    await page.wait_for_selector("#result[data-result=ok]", timeout=DRAWN)
    assert await page.inner_text("#name") == "李娜"
    assert await page.inner_text("#seat") == "座位 A-2"
    assert await page.get_attribute("#result", "data-colour") == "green"
    assert await page.evaluate("window.lastSound") == "success"
    await page.screenshot(path=str(SHOTS / "kiosk-ok.png"))
    await page.wait_for_selector("body[data-state=ready]", timeout=BACK_TO_READY)

    await scanner.scan(desk.badge("A002"))
    await page.wait_for_selector("#result[data-result=already_checked_in]", timeout=DRAWN)
    assert "desk-1" in await page.inner_text("#detail")
    await page.screenshot(path=str(SHOTS / "kiosk-already.png"))

    await scanner.scan(desk.badge("A002")[:-9])  # a truncated read
    await page.wait_for_selector("#result[data-result=invalid]", timeout=DRAWN)
    assert await page.get_attribute("#result", "data-colour") == "red"
    assert await page.inner_text("#name") == ""
    assert await page.evaluate("window.lastSound") == "failure"
    await page.screenshot(path=str(SHOTS / "kiosk-invalid.png"))
    await scanner.garbage(3000)  # kilobytes of noise: one red answer, nothing else
    await drawn(page, 4)
    assert errors == []


async def test_the_kiosk_page_speaks_english_and_signs_in_by_name_with_the_supervisor_pin(site):
    controller, desk, scanner, browser = site
    page, errors = await open_page(browser, f"{controller.url}/kiosk?lang=en#token={TOKENS['kiosk']}")
    await page.wait_for_selector("body[data-live=on]")
    assert await page.inner_text("#ready-text") == "Please scan your badge or invitation"
    await page.click("#search-button")
    await page.fill("#search-name", "王")
    await page.wait_for_selector("#matches[data-query='王']", state="attached")  # the search has looked
    assert await page.locator("#matches li").count() == 0
    await page.fill("#search-name", "王芳")
    await page.wait_for_selector("#matches li[data-id=A003]")
    assert (await page.inner_text("#matches li")).split() == ["王芳Acme", "Consulting", "A-3"]
    await page.screenshot(path=str(SHOTS / "kiosk-search.png"))
    await page.click("#matches li[data-id=A003]")
    await page.fill("#pin", "0000")
    await page.click("#sign-in")
    await page.wait_for_selector("#search-message:has-text('Wrong PIN')")
    await page.fill("#pin", "246810")
    await page.click("#sign-in")
    await page.wait_for_selector("#result[data-result=ok]", timeout=DRAWN)
    assert await page.inner_text("#headline") == "Welcome"
    assert await page.inner_text("#name") == "王芳"
    # manual entry of a code typed from the printed badge
    await page.wait_for_selector("body[data-state=ready]", timeout=BACK_TO_READY)
    await page.click("#manual-button")
    await page.fill("#manual-code", desk.badge("A004"))
    await page.click("#manual-submit")
    await page.wait_for_selector("#result[data-result=ok] >> text=Zhang Wei", timeout=DRAWN)
    assert errors == []


async def test_staff_see_counts_and_a_vip_alert_and_the_big_screen_fills_its_seat_map(site):
    controller, desk, scanner, browser = site
    staff, staff_errors = await open_page(browser, f"{controller.url}/kiosk/staff#token={TOKENS['staff']}", (1400, 900))
    await staff.wait_for_selector("body[data-loaded=yes]")
    screen, screen_errors = await open_page(browser, f"{controller.url}/kiosk/screen#token={TOKENS['kiosk']}", (1600, 900))
    await screen.wait_for_selector("body[data-loaded=yes]")
    assert await screen.inner_text("#count") == "0 / 5"

    await scanner.scan(desk.badge("A003"))
    await scanner.scan(desk.badge("A001"))  # a VIP
    await staff.wait_for_selector("#vip-alert.shown:has-text('张伟')", timeout=DRAWN)
    await staff.wait_for_selector("[data-list=plenary] [data-count=signedIn] b:text-is('2')", timeout=DRAWN)
    assert await staff.inner_text("#vips") != ""
    await staff.screenshot(path=str(SHOTS / "staff.png"), full_page=True)
    await screen.wait_for_selector("#count[data-present='2']", timeout=DRAWN)
    assert await screen.locator(".seat.in").count() == 2
    assert await screen.get_attribute(".seat[data-seat='A-3']", "class") == "seat in"
    await screen.screenshot(path=str(SHOTS / "big-screen.png"))
    assert staff_errors == [] and screen_errors == []

    denied, _ = await open_page(browser, f"{controller.url}/kiosk/staff#token={TOKENS['kiosk']}")
    await denied.wait_for_selector("#title:has-text('令牌无效或无权限')")
