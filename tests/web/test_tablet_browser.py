"""The tablet page in a real headless Chromium against the simulated hall: a tap drives the
simulators over their wires and the page shows what the devices report; another room's
tablet is refused; a shared tablet signs in with name and PIN, for its own room only; the
page rides out a controller restart. Screenshots go to the folder ROOMCTL_SCREENSHOTS
names, when set (the README shows them)."""

from __future__ import annotations

import pytest

from controller.app import Controller
from controller.config import parse_config
from helpers import wait_until
from pages import DRAWN, SHOTS, fits_the_screen, open_page
from simulators.pjlink import PowerState
from sites import PIN, PIN_USER, TOKENS, WITHIN, free_port, hall_yaml, running, sim

# People who sign in on a room's tablet (controller/auth_config.py: a tablet PIN user is bound
# to one room; a technician may use every room).
HALL_HOST, HALL_PIN = "Hall host", "112233"
ANNEX_HOST, ANNEX_PIN = "Annex host", "445566"
TABLET_PIN_USERS = (f'{{name: {HALL_HOST}, pin: "{HALL_PIN}", role: tablet, room: hall}}, '
                    f'{{name: {ANNEX_HOST}, pin: "{ANNEX_PIN}", role: tablet, room: annex}}')


async def test_tapping_a_scene_drives_the_simulators_and_the_page_shows_it(venue, browser):
    page, errors = await open_page(browser, f"{venue.url}/tablet/hall?lang=en#token={TOKENS['tablet']}")
    await page.wait_for_selector("body[data-loaded=yes][data-live=on]")
    assert "token=" not in page.url  # the token left the address bar
    assert await page.inner_text("#room-name") == "Hall"

    await page.click(".scene[data-scene=presentation]")
    await page.wait_for_selector(".scene[data-scene=presentation][data-state=ok]")
    projector, light = sim(venue, "hall/proj"), sim(venue, "hall/light").devices["hall/ceiling"]
    assert projector.projector.power is PowerState.ON and light.on and abs(light.brightness - 102) <= 2  # 40 % of 254
    # the page shows what the devices report back
    await page.wait_for_selector(".light[data-device=light][data-percent='40']")
    await page.wait_for_selector("#input .segment[data-input=digital1][aria-pressed=true]")
    await page.wait_for_selector("#volume[data-db='-10']")
    assert "Presentation" in await page.inner_text("#scene-result")

    await page.click(".mic[data-mic=Chair]")
    await page.wait_for_selector(".mic[data-mic=Chair][aria-pressed=true]")
    assert sim(venue, "hall/mixer").param("/ch/01/mix/on") == 0
    before = float(await page.get_attribute("#climate", "data-setpoint"))
    await page.click("#climate button[aria-label='+']")
    await page.wait_for_selector(f"#climate[data-setpoint='{before + 0.5:g}']")
    await page.screenshot(path=str(SHOTS / "tablet.png"))
    assert errors == []


async def test_the_tablet_fits_a_10_inch_tablet_both_ways_and_a_phone_in_both_languages(venue, browser):
    for size, lang, shot in [((1280, 800), "en", None), ((800, 1280), "zh-CN", "tablet-portrait-zh.png"),
                             ((390, 844), "zh-CN", "tablet-phone-zh.png"), ((844, 390), "en", None)]:
        page, errors = await open_page(browser, f"{venue.url}/tablet/hall?lang={lang}#token={TOKENS['tablet']}", size)
        await page.wait_for_selector("body[data-loaded=yes][data-live=on]")
        assert await fits_the_screen(page), size
        for box in [await b.bounding_box() for b in await page.query_selector_all(".scene")]:
            assert box["height"] >= 64 and box["x"] >= 0 and box["x"] + box["width"] <= size[0], (size, box)
        assert await page.inner_text("#volume h2") == ("主音量" if lang == "zh-CN" else "Volume")
        if shot:
            await page.screenshot(path=str(SHOTS / shot), full_page=True)
        assert errors == []
        await page.close()


async def test_a_tablet_token_for_another_room_is_refused(venue, browser):
    page, errors = await open_page(browser, f"{venue.url}/tablet/annex?lang=en#token={TOKENS['tablet']}")
    await page.wait_for_selector("#refused:has-text('This tablet may not control “annex”')")
    assert await page.get_attribute("body", "data-refused") == "yes"
    assert not await page.is_visible(".scene")
    assert sim(venue, "annex/display").projector.power is PowerState.STANDBY
    assert errors == []


async def test_the_page_survives_the_controller_restarting(tmp_path, browser):
    text = hall_yaml(tmp_path, port=free_port(), mqtt=False)
    first = Controller(parse_config(text))
    await first.start()
    assert not await first.wait_until_online(WITHIN)
    page, errors = await open_page(browser, f"{first.url}/tablet/hall?lang=en#token={TOKENS['tablet']}")
    await page.wait_for_selector("body[data-loaded=yes][data-live=on]")
    await first.stop()
    await page.wait_for_selector("#offline:has-text('The controller cannot be reached')")
    assert await page.get_attribute("body", "data-live") in ("off", "connecting")

    second = Controller(parse_config(text))
    await second.start()
    try:
        assert not await second.wait_until_online(WITHIN)
        await page.wait_for_selector("body[data-live=on]", timeout=DRAWN * 2)  # back by itself, backoff ≤ 10 s
        await page.wait_for_selector("#offline", state="hidden")
        await page.click(".scene[data-scene=presentation]")
        await page.wait_for_selector(".scene[data-scene=presentation][data-state=ok]")
        assert sim(second, "hall/proj").projector.power is PowerState.ON
    finally:
        await second.stop()
    assert errors == []


@pytest.fixture
async def shared_tablets(tmp_path):
    """The venue without MQTT, with a PIN user bound to each room's tablet."""
    async with running(hall_yaml(tmp_path, mqtt=False, pin_users=TABLET_PIN_USERS)) as controller:
        yield controller


async def sign_in(page, user: str, pin: str) -> None:
    await page.fill("#login-user", user)
    await page.fill("#login-pin", pin)
    await page.click("#login-submit")


async def test_a_shared_tablet_signs_in_with_name_and_pin_and_a_tap_drives_the_room(shared_tablets, browser):
    venue = shared_tablets
    page, errors = await open_page(browser, f"{venue.url}/tablet/hall?lang=en")  # no token: the sign-in
    await page.wait_for_selector("#login:not([hidden])")
    assert await page.is_hidden("#main")
    assert await page.inner_text("#login-title") == "Sign in with your name and PIN"

    await sign_in(page, HALL_HOST, "999999")
    await page.wait_for_selector("#login-message[data-status='401']:has-text('wrong name or PIN')")
    assert await page.is_hidden("#main")

    await sign_in(page, HALL_HOST, HALL_PIN)
    await page.wait_for_selector("body[data-loaded=yes][data-live=on]")
    assert await page.is_hidden("#login")
    await page.click(".scene[data-scene=presentation]")
    await page.wait_for_selector(".scene[data-scene=presentation][data-state=ok]")
    assert sim(venue, "hall/proj").projector.power is PowerState.ON
    [scene] = await venue.store.events(kinds=["scene"], room="hall", limit=1)
    assert scene["actor"] == HALL_HOST  # the event log says who tapped

    # The technician's PIN works on any room's tablet (a technician may use every room).
    annex, more_errors = await open_page(browser, f"{venue.url}/tablet/annex?lang=zh-CN")
    await sign_in(annex, PIN_USER, PIN)
    await annex.wait_for_selector("body[data-loaded=yes][data-live=on]")
    await annex.click(".scene[data-scene=presentation]")
    await annex.wait_for_selector(".scene[data-scene=presentation][data-state=ok]")
    display = sim(venue, "annex/display").projector
    await wait_until(lambda: display.power is PowerState.ON, within=WITHIN, what="annex display on")  # warms up
    assert errors == more_errors == []


async def test_a_pin_user_bound_to_another_rooms_tablet_is_refused_here(shared_tablets, browser):
    venue = shared_tablets
    page, errors = await open_page(browser, f"{venue.url}/tablet/hall?lang=en")
    await sign_in(page, ANNEX_HOST, ANNEX_PIN)  # the right PIN, for the annex's tablet
    await page.wait_for_selector("#refused:has-text('This tablet may not control “hall”')")
    assert await page.get_attribute("body", "data-refused") == "yes"
    assert not await page.is_visible(".scene")
    # and not by going round the page either: the session's scene request is refused too
    session = await page.evaluate("localStorage.getItem('roomctl-tablet-token')")
    status = await page.evaluate("""token => fetch('/api/rooms/hall/scenes/presentation', {method: 'POST',
        headers: {Authorization: 'Bearer ' + token}}).then(r => r.status)""", session)
    assert status == 403
    assert sim(venue, "hall/proj").projector.power is PowerState.STANDBY
    assert errors == []
