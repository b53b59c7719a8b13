"""The technician console in a real headless Chromium against the simulated venue: the
self-test run from the page with the speak test asked on it, then a flat battery, its
failure, its playbook and the step the technician confirms; a PIN sign-in; a maintenance
entry added to a device's history; the staffed badge of an attended room."""

from __future__ import annotations

from types import SimpleNamespace

import httpx

from controller.schedule_handlers import release, reminder
from helpers import wait_until
from pages import SELFTEST, SHOTS, open_page
from sites import NAMES, PIN, PIN_USER, TOKENS, WITHIN, auth, sim


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


async def test_a_technician_records_maintenance_in_a_devices_history_and_a_tablet_token_is_refused(small_venue,
                                                                                                   browser):
    page, errors = await open_page(browser, f"{small_venue.url}/console?lang=en#token={TOKENS['technician']}",
                                   (1400, 900))
    await page.wait_for_selector("body[data-loaded=yes][data-live=on]")
    await page.click(".room-tile[data-room=hall]")
    await page.click("#archive-table tr[data-device=proj] .open-history")
    await page.wait_for_selector("#archive-history[data-device=proj] .maintenance-list:has-text('No maintenance')")
    assert await page.input_value("#maintenance-by") == NAMES["technician"]  # the signed-in user, by default

    await page.fill("#maintenance-note", "Replaced the lamp; filter cleaned")
    await page.click("#maintenance-submit")
    await page.wait_for_selector("#maintenance-list li.maintenance:has-text('Replaced the lamp; filter cleaned')")
    assert await page.get_attribute("#maintenance-message", "data-status") == "added"
    assert await page.input_value("#maintenance-note") == ""
    await page.wait_for_selector("#archive-table tr[data-device=proj] .maintenance-count:text-is('1')")
    [recorded] = (await small_venue.archive.entry("hall", "proj")).maintenance
    assert (recorded.note, recorded.by, recorded.recorded_by) == (
        "Replaced the lamp; filter cleaned", NAMES["technician"], NAMES["technician"])

    # someone else did the work, and the technician records it; a blank note is refused with its reason
    await page.fill("#maintenance-by", "Wang Fang")
    await page.fill("#maintenance-note", "   ")
    await page.click("#maintenance-submit")
    await page.wait_for_selector("#maintenance-message[data-status='422']:has-text('must not be blank')")
    await page.fill("#maintenance-note", "Lens cleaned")
    await page.click("#maintenance-submit")
    await page.wait_for_selector("#maintenance-list li.maintenance:first-child:has-text('Lens cleaned')")
    assert "Wang Fang" in await page.inner_text("#maintenance-list li.maintenance:first-child")

    # The same form, sent with a tablet's token: the server refuses it and the page says why.
    async def as_the_tablet(route):
        await route.continue_(headers={**route.request.headers, "authorization": f"Bearer {TOKENS['tablet']}"})

    await page.route("**/api/archive/hall/proj/maintenance", as_the_tablet)
    await page.fill("#maintenance-note", "Swapped the projector")
    await page.click("#maintenance-submit")
    await page.wait_for_selector(
        "#maintenance-message[data-status='403']:has-text('a tablet token may not add maintenance entries')")
    assert await page.input_value("#maintenance-note") == "Swapped the projector"  # kept, to send again
    assert await page.locator("#maintenance-list li.maintenance").count() == 2
    assert (await small_venue.archive.entry("hall", "proj")).maintenance_count == 2
    await page.locator("#archive").screenshot(path=str(SHOTS / "console-archive.png"))

    await page.click("#lang")  # the form in Chinese keeps what was typed
    await page.wait_for_selector("#maintenance-form h3:text-is('添加维护记录')")
    assert await page.input_value("#maintenance-note") == "Swapped the projector"
    assert await page.locator("#maintenance-list li.maintenance").count() == 2
    assert errors == []


async def test_the_console_shows_a_room_is_staffed_from_the_reminder_until_the_meeting_is_over(small_venue, browser):
    page, errors = await open_page(browser, f"{small_venue.url}/console?lang=zh-CN#token={TOKENS['technician']}",
                                   (1400, 900))
    await page.wait_for_selector("body[data-loaded=yes][data-live=on]")
    await page.click(".room-tile[data-room=hall]")
    await page.wait_for_selector("#room[data-room=hall] .room-head")
    staffed = ".room-tile[data-room=hall] .staffed"
    await page.wait_for_selector(f"{staffed}[data-attended=no]", state="hidden")

    # T-20: the staff reminder; from now on someone stays in the hall
    await reminder(small_venue, SimpleNamespace(room="hall", booking=SimpleNamespace(id="b-1", title="董事会")))
    await page.wait_for_selector(f"{staffed}[data-attended=yes]:text-is('有人值守')")
    await page.wait_for_selector("#room .room-head .staffed[data-attended=yes]")
    await page.locator("#rooms").screenshot(path=str(SHOTS / "console-staffed-zh.png"))
    assert await page.is_hidden(".room-tile[data-room=annex] .staffed")
    assert await page.get_attribute(".room-tile[data-room=hall] .pill", "data-state") == "warnings"  # beside it
    async with httpx.AsyncClient(base_url=small_venue.url) as client:
        glances = (await client.get("/api/console/rooms", headers=auth("technician"))).json()
    assert {g["id"]: g["attended"] for g in glances} == {"hall": True, "annex": False}

    # The meeting is over: the post-meeting step ends the watch (and the schedule says so on the bus).
    release(small_venue, SimpleNamespace(room="hall", booking=SimpleNamespace(id="b-1", title="董事会")))
    assert small_venue.site.rooms["hall"].attended is False
    small_venue.bus.publish("schedule", room="hall", actor="scheduler",
                            data={"event": "done", "step": "post_meeting", "booking": "b-1"})
    await page.wait_for_selector(f"{staffed}[data-attended=no]", state="hidden")
    await page.wait_for_selector("#room .room-head .staffed[data-attended=no]", state="hidden")
    assert errors == []
