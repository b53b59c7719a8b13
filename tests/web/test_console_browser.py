"""The technician console in a real headless Chromium against the simulated venue: the
self-test run from the page with the speak test asked on it, then a flat battery, its
failure, its playbook and the step the technician confirms; a PIN sign-in."""

from __future__ import annotations

from helpers import wait_until
from pages import SELFTEST, SHOTS, open_page
from sites import PIN, PIN_USER, TOKENS, WITHIN, sim


async def test_the_technician_runs_the_self_test_then_finds_a_flat_battery_and_works_its_playbook(venue, browser):
    page, errors = await open_page(browser, f"{venue.url}/console?lang=en#token={TOKENS['technician']}", (1400, 900))
    await page.wait_for_selector("body[data-loaded=yes][data-live=on]")
    await page.click(".room-tile[data-room=hall]")
    await page.wait_for_selector("#room[data-room=hall] .device[data-device=mics][data-status=online]")
    assert await page.get_attribute(".room-tile[data-room=hall]", "data-state") == "warnings"  # no self-test yet

    # The speak test asks on the page; the technician speaks (the simulator's talker) and it moves on.
    mics = sim(venue, "hall/mics")
    await page.select_option("#talker", "technician")
    await page.click("#run-selftest")
    await page.wait_for_selector(".prompt[data-source=selftest][data-channel='1']:has-text('Speak into Mic 1 — Chair')",
                                 timeout=SELFTEST)
    mics.talk(1)
    await page.wait_for_selector(".prompt[data-channel='1']", state="detached")
    mics.silence(1)
    await page.wait_for_selector("#selftest-result[data-ready=true]", timeout=SELFTEST)
    await page.wait_for_selector(".room-tile[data-room=hall][data-state=ready]")

    # A mic's battery goes flat: the next self-test fails it and offers its playbook.
    receiver = venue.site.device("hall", "mics").device
    mics.inject("battery_flat", channel=1)
    await wait_until(lambda: receiver.state["batteries"][1].is_flat, within=WITHIN, what="battery flat")
    await page.wait_for_selector(".device[data-device=mics] tr[data-channel='1'] .bars[data-bars='0']")
    await page.select_option("#talker", "simulated")
    await page.click("#run-selftest")
    await page.wait_for_selector("#selftest-result[data-ready=false]", timeout=SELFTEST)
    failure = ".failure[data-check=mic_battery][data-playbook=mic-battery-low]"
    assert "Mic 1 — Chair" in await page.inner_text(failure)
    await page.wait_for_selector(".room-tile[data-room=hall][data-state=not_ready]")
    await page.click(f"{failure} .run-playbook")
    # the spare is moved in automatically; then the technician is asked to hand it over
    step = ".run[data-kind=mic-battery-low] li[data-outcome=waiting]:has-text('Hand Mic 2 — Spare')"
    await page.wait_for_selector(f"{step} .confirm-step")
    await page.wait_for_selector(".run[data-kind=mic-battery-low] li[data-name=spare_mic][data-outcome=mitigated]")
    await page.screenshot(path=str(SHOTS / "console.png"), full_page=True)
    await page.click(f"{step} .confirm-step")
    await page.wait_for_selector(".run[data-kind=mic-battery-low][data-outcome=mitigated]")
    await page.wait_for_selector("#log tr[data-kind=playbook]")
    assert sim(venue, "hall/mixer").param("/ch/02/mix/on") == 1  # the spare's input is open
    assert errors == []


async def test_a_technician_signs_in_on_the_shared_console_with_name_and_pin(small_venue, browser):
    page, errors = await open_page(browser, f"{small_venue.url}/console?lang=zh-CN", (1280, 800))
    await page.wait_for_selector("#login:not([hidden])")
    await page.fill("#login-user", PIN_USER)
    await page.fill("#login-pin", "000000")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-message[data-status='401']")
    await page.fill("#login-pin", PIN)
    await page.click("#login-submit")
    await page.wait_for_selector("body[data-loaded=yes][data-live=on]")
    assert await page.inner_text("#who") == f"{PIN_USER} (technician)"
    assert await page.inner_text("#console-title") == "音控台"
    await page.click("#sign-out")
    await page.wait_for_selector("#login:not([hidden])")
    assert errors == []
