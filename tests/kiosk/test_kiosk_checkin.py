"""The check-in decision on a real store: every answer, nonces, overrides, search, conflicts."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

import pytest

from desks import CLOSES, OPENS, PIN, STARTS, nonce
from kiosk.admin import revoke
from kiosk.checkin import Entry, Result, apply_entries, iso
from kiosk.errors import InvalidRequest, PinRejected


async def test_a_registered_attendee_is_signed_in_with_name_and_seat(service, desk):
    decision = await service.scan(desk.badge("A002"), nonce=nonce())
    assert decision.result is Result.OK and decision.accepted
    assert (decision.attendee.name, decision.attendee.seat, decision.attendee.organisation) == ("李娜", "A-2", "上海会展中心")
    assert not decision.late
    # committed before the answer: another connection sees it at once
    db = sqlite3.connect(desk.path)
    assert db.execute("SELECT ref, list, direction FROM checkins").fetchall() == [(decision.attendee.ref, "plenary", "in")]


async def test_a_second_scan_says_when_and_at_which_desk(service, desk, clock):
    first = await service.scan(desk.badge("A002"), nonce=nonce())
    clock.advance(minutes=5)
    second = await service.scan(desk.badge("A002"), nonce=nonce())
    assert second.result is Result.ALREADY
    assert second.previous == {"at": first.at, "kiosk": "desk-1"}


async def test_the_same_scan_submitted_twice_is_one_check_in(service, desk):
    scan_id = nonce()
    first = await service.scan(desk.badge("A002"), nonce=scan_id)
    again = await service.scan(desk.badge("A002"), nonce=scan_id)
    assert again.result is Result.OK and again.repeated and again.at == first.at and again.seq == first.seq
    many = await asyncio.gather(*[service.scan(desk.badge("A003"), nonce="retry-1") for _ in range(10)])
    assert [d.result for d in many].count(Result.OK) == 10 and sum(not d.repeated for d in many) == 1
    db = sqlite3.connect(desk.path)
    assert db.execute("SELECT COUNT(*) FROM checkins").fetchone() == (2,)


async def test_a_nonce_reused_for_another_badge_is_a_typed_error(service, desk):
    await service.scan(desk.badge("A002"), nonce="same")
    with pytest.raises(InvalidRequest) as refused:
        await service.scan(desk.badge("A003"), nonce="same")
    assert refused.value.field == "nonce"


async def test_concurrent_scans_of_one_badge_let_it_in_once(service, desk):
    code = desk.badge("A004")
    results = await asyncio.gather(*[service.scan(code, nonce=nonce()) for _ in range(20)])
    assert [r.result for r in results].count(Result.OK) == 1
    assert [r.result for r in results].count(Result.ALREADY) == 19


REFUSALS = [
    ("A005", Result.NOT_ON_LIST),   # on the dinner list only
    ("A006", Result.BLOCKED),
]


@pytest.mark.parametrize("attendee, result", REFUSALS)
async def test_refusals_name_the_reason(service, desk, attendee, result):
    decision = await service.scan(desk.badge(attendee), nonce=nonce())
    assert decision.result is result and decision.result.colour == "red"
    assert sqlite3.connect(desk.path).execute("SELECT COUNT(*) FROM checkins").fetchone() == (0,)


async def test_damaged_codes_are_invalid_and_nothing_is_stored(service, desk):
    code = desk.badge("A002")
    # One signature character changed (ends like "…AA" are common: Ed25519's S has its top bits clear).
    altered = code[:-10] + ("B" if code[-10] != "B" else "C") + code[-9:]
    for bad in (code[:90], altered, "Q" * 5000, "hello", ""):
        decision = await service.scan(bad, nonce=nonce())
        assert decision.result is Result.INVALID and decision.detail
    db = sqlite3.connect(desk.path)
    assert db.execute("SELECT COUNT(*) FROM checkins").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM scans WHERE result = 'invalid'").fetchone() == (5,)


async def test_a_revoked_badge_is_refused_and_the_reissued_one_works(service, desk):
    lost = desk.badge("A003")
    revoke(desk.store, "A003", reason="lost", reissue=True)
    assert (await service.scan(lost, nonce=nonce())).result is Result.REVOKED
    assert (await service.scan(desk.badge("A003"), nonce=nonce())).result is Result.OK


async def test_the_sign_in_window_and_lateness_follow_the_list(service, desk, clock):
    clock.at = OPENS - timedelta(minutes=1)
    assert (await service.scan(desk.badge("A002"), nonce=nonce())).result is Result.OUTSIDE_WINDOW
    clock.at = STARTS + timedelta(minutes=10)
    late = await service.scan(desk.badge("A002"), nonce=nonce())
    assert late.result is Result.OK and late.late
    clock.at = CLOSES + timedelta(seconds=1)
    assert (await service.scan(desk.badge("A003"), nonce=nonce())).result is Result.OUTSIDE_WINDOW
    counts = (await service.staff_view())["counts"][0]
    assert (counts["signed_in"], counts["late"]) == (1, 1)


async def test_exit_and_re_entry_keep_the_head_count_right(service, desk):
    code = desk.badge("A002")
    assert (await service.scan(code, nonce=nonce())).result is Result.OK
    assert (await service.scan(code, nonce=nonce(), direction="out")).result is Result.OK
    counts = (await service.screen_view())["counts"]
    assert (counts["signed_in"], counts["present"]) == (1, 0)
    assert (await service.scan(code, nonce=nonce())).result is Result.OK
    assert (await service.screen_view())["counts"]["present"] == 1


async def test_a_supervisor_signs_in_someone_without_a_badge_by_name(service):
    found = await service.search("王芳")
    assert found == [{"attendee_id": "A003", "name": "王芳", "organisation": "Acme Consulting", "seat": "A-3"}]
    decision = await service.override(pin=PIN, staff="desk staff", nonce=nonce(), reason="未带证件",
                                      attendee_id="A003")
    assert decision.result is Result.OK and decision.override == "未带证件"
    view = await service.staff_view()
    assert view["overrides"][0]["reason"] == "未带证件" and view["overrides"][0]["staff"] == "desk staff"


async def test_an_override_lets_a_refused_attendee_in_with_the_reason_recorded(service, desk):
    code = desk.badge("A005")
    assert (await service.scan(code, nonce=nonce())).result is Result.NOT_ON_LIST
    decision = await service.override(pin=PIN, staff="lead", nonce=nonce(), reason="organiser approved", code=code)
    assert decision.result is Result.OK
    assert (await service.scan(code, nonce=nonce())).result is Result.ALREADY


async def test_a_wrong_pin_is_refused_and_repeated_guesses_lock_the_desk(service):
    for _ in range(4):
        with pytest.raises(PinRejected) as refused:
            await service.override(pin="0000", staff="x", nonce=nonce(), reason="r", attendee_id="A003")
        assert refused.value.locked_for == 0
    with pytest.raises(PinRejected) as refused:
        await service.override(pin="0000", staff="x", nonce=nonce(), reason="r", attendee_id="A003")
    assert refused.value.locked_for > 0
    with pytest.raises(PinRejected):  # even the right PIN waits out the lock
        await service.override(pin=PIN, staff="x", nonce=nonce(), reason="r", attendee_id="A003")
    assert (await service.staff_view())["overrides"] == []


SEARCHES = [("", 0), ("张", 0), ("张伟", 1), ("zhang", 1), ("ZHANG WEI", 1), ("%", 0), ("__", 0)]


@pytest.mark.parametrize("query, hits", SEARCHES)
async def test_name_search_needs_a_few_characters_and_shows_only_name_organisation_seat(service, query, hits):
    found = await service.search(query)
    assert len(found) == hits
    for person in found:
        assert set(person) == {"attendee_id", "name", "organisation", "seat"}


async def test_a_vip_arrival_alerts_the_staff_pages(service, desk):
    staff = service.listen("staff")
    kiosk = service.listen("kiosk")
    await service.scan(desk.badge("A001"), nonce=nonce())
    alert = await asyncio.wait_for(staff.queue.get(), 2)
    assert alert == {"type": "vip", "name": "张伟", "seat": "A-1", "kiosk": "desk-1", "at": "2025-06-01 08:40:00"}
    assert kiosk.queue.empty()  # kiosk pages are not told who the VIPs are


def test_conflicts_are_the_same_whatever_order_the_entries_arrive_in(tmp_path, desk):
    ref = "AAAAAAAAAAAAA"
    a_in = Entry("desk-a.00000001", 1, "n1", ref, "plenary", "in", iso(STARTS), "desk-a", True)
    b_in = Entry("desk-b.00000002", 1, "n2", ref, "plenary", "in", iso(STARTS + timedelta(seconds=30)), "desk-b", True)
    b_out = Entry("desk-b.00000002", 2, "n3", ref, "plenary", "out", iso(STARTS + timedelta(minutes=5)), "desk-b")
    a_in2 = Entry("desk-a.00000001", 2, "n4", ref, "plenary", "in", iso(STARTS + timedelta(minutes=9)), "desk-a")
    results = []
    for order in ([a_in, b_in, b_out, a_in2], [a_in2, b_out, b_in, a_in], [b_in, a_in2, a_in, b_out]):
        db = desk.store.connect()
        db.execute("DELETE FROM checkins")
        db.execute("DELETE FROM conflicts")
        db.execute("DELETE FROM replicas")
        for entry in order:
            apply_entries(db, entry.origin, [entry])
        results.append(db.execute("SELECT * FROM conflicts").fetchall())
        db.close()
    assert results[0] == results[1] == results[2] == [(ref, "plenary", "desk-a.00000001", 1, "desk-b.00000002", 1)]


def test_a_replica_entry_that_differs_from_the_copy_held_is_refused(desk):
    db = desk.store.connect()
    entry = Entry("desk-b.00000002", 1, "n1", "AAAAAAAAAAAAA", "plenary", "in", iso(STARTS), "desk-b")
    apply_entries(db, entry.origin, [entry])
    altered = Entry(**{**entry.__dict__, "ref": "BBBBBBBBBBBBB"})
    with pytest.raises(InvalidRequest):
        apply_entries(db, entry.origin, [altered])


def test_a_replica_entry_reusing_another_entrys_nonce_is_refused_and_nothing_of_its_batch_stays(desk):
    db = desk.store.connect()
    first = Entry("desk-b.00000002", 1, "n1", "AAAAAAAAAAAAA", "plenary", "in", iso(STARTS), "desk-b")
    apply_entries(db, first.origin, [first])
    fresh = Entry("desk-b.00000002", 2, "n2", "CCCCCCCCCCCCC", "plenary", "in", iso(STARTS), "desk-b")
    reused = Entry("desk-b.00000002", 3, "n1", "BBBBBBBBBBBBB", "plenary", "in", iso(STARTS), "desk-b")
    db.execute("BEGIN IMMEDIATE")  # as the store runs it: the batch in one transaction
    with pytest.raises(InvalidRequest, match="nonce"):
        apply_entries(db, first.origin, [fresh, reused])
    db.execute("ROLLBACK")
    assert db.execute("SELECT seq, nonce FROM checkins ORDER BY seq").fetchall() == [(1, "n1")]
    assert db.execute("SELECT contiguous FROM replicas").fetchall() == [(1,)]
    db.close()


def test_the_contiguous_mark_stops_at_the_first_gap_and_moves_on_when_it_is_filled(desk):
    db = desk.store.connect()
    origin = "desk-b.00000002"

    def entry(seq: int) -> Entry:
        return Entry(origin, seq, f"n{seq}", "AAAAAAAAAAAAA", "plenary", "out", iso(STARTS), "desk-b")

    assert apply_entries(db, origin, [entry(1), entry(2), entry(4), entry(5)]).contiguous == 2
    assert apply_entries(db, origin, [entry(5)]).contiguous == 2  # a replay changes nothing
    assert apply_entries(db, origin, [entry(3)]).contiguous == 5
    db.close()
