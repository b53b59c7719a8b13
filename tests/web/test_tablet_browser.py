"""The tablet page in a real headless Chromium against the simulated hall: a tap drives the
simulators over their wires and the page shows what the devices report; another room's
tablet is refused; the page rides out a controller restart. Screenshots go to
the folder ROOMCTL_SCREENSHOTS names, when set (the README shows them)."""

from __future__ import annotations

from controller.app import Controller
from controller.config import parse_config
from pages import DRAWN, SHOTS, fits_the_screen, open_page
from simulators.pjlink import PowerState
from sites import TOKENS, WITHIN, free_port, hall_yaml, sim


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
