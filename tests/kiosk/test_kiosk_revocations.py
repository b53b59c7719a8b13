"""Which badges count, shared by the desks over a real broker: revocations and public keys
reach every desk while they run, survive a restart, heal after a partition, and refuse
altered or replayed messages. Both legs: roomctl's embedded broker and the machine's Mosquitto."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3

import pytest

from desks import HEAL, PIN, REPLICATED, SECRET, HandClock, counts, make_desk, nonce, start_fleet
from drivers.transports.base import Message
from drivers.transports.mqtt import BrokerSettings, MqttConnection
from helpers import wait_until
from kiosk.admin import export_pack, import_attendees, new_key, retire_key, revoke
from kiosk.checkin import Result
from kiosk.errors import ImportRejected
from kiosk.service import KioskService
from kiosk.sync import BADGE_POLL, PublicKey, Revocation, decode_key, decode_revocation, merge_badges
from kiosk.tokens import Keyring
from mqtt_legs import broker, unique  # noqa: F401  (the fixture)

# A revocation or a key reaches every connected desk within a second (a change made with the
# CLI on a desk's store waits up to BADGE_POLL more to be noticed; that is inside the second).
WITHIN_A_SECOND = 1.0


def ref_of(desk, attendee_id: str) -> str:
    db = sqlite3.connect(desk.path)
    try:
        return db.execute("SELECT ref FROM attendees WHERE id = ?", (attendee_id,)).fetchone()[0]
    finally:
        db.close()


@pytest.fixture
async def fleet(tmp_path, broker):  # noqa: F811
    clock = HandClock()
    desk, a, b, site = await start_fleet(tmp_path, broker.host, broker.port, clock)
    yield desk, a, b, broker, site, clock
    for service in (a, b):
        await service.stop()


async def spy_on(leg, topic: str) -> tuple[MqttConnection, list[Message]]:
    seen: list[Message] = []
    spy = MqttConnection(BrokerSettings(host=leg.host, port=leg.port, client_id=unique("spy")))
    await spy.start()
    await spy.wait_connected(REPLICATED)
    await spy.subscribe(topic, seen.append)
    return spy, seen


# --- across the fleet ----------------------------------------------------------------------


async def test_a_badge_revoked_at_one_desk_is_refused_at_the_other_within_a_second_and_after_its_restart(
        fleet, tmp_path):
    desk, a, b, _, site, clock = fleet
    lost = desk.badge("A002")
    done = await a.revoke(pin=PIN, attendee_id="A002", reason="lost badge")
    assert (await a.scan(lost, nonce=nonce())).result is Result.REVOKED
    await wait_until(lambda: done.ref in b.badges.revoked, within=WITHIN_A_SECOND, what="revocation at desk-b")
    assert (await b.scan(lost, nonce=nonce())).result is Result.REVOKED
    again = await a.revoke(pin=PIN, attendee_id="A002", reason="lost badge, reported twice")
    assert again == done  # idempotent: the first revocation stands
    await b.stop()  # durable: desk-b restarts and still refuses it, with no broker to tell it again
    restarted = KioskService(b.config, site=site, store_path=b.store.path, now=clock)
    await restarted.start()
    try:
        assert (await restarted.scan(lost, nonce=nonce())).result is Result.REVOKED
        assert list(restarted.badges.revoked) == [done.ref]
    finally:
        await restarted.stop()


async def test_a_revocation_made_with_the_cli_on_a_running_desks_store_reaches_the_other_with_the_new_badge(fleet):
    desk, a, b, _, _, _ = fleet
    lost = desk.badge("A003")
    done = revoke(desk.store, "A003", reason="lost", reissue=True)  # `roomctl kiosk revoke CONFIG A003 --reissue`
    await wait_until(lambda: done.old_ref in b.badges.revoked, within=WITHIN_A_SECOND, what="revocation at desk-b")
    assert (await b.scan(lost, nonce=nonce())).result is Result.REVOKED
    reissued = await b.scan(desk.badge("A003"), nonce=nonce())  # the new badge, printed at the organiser's
    assert reissued.result is Result.OK and reissued.attendee.name == "王芳"
    assert ref_of(desk, "A003") == done.new_ref == reissued.attendee.ref


async def test_a_badge_revoked_while_a_desk_was_cut_off_and_let_in_there_is_flagged_after_healing(fleet):
    desk, a, b, _, _, clock = fleet
    code = desk.badge("A004")
    await a.scan(desk.badge("A002"), nonce=nonce())  # before the cut, and before any revocation: no flag
    await wait_until(lambda: counts(b)[0] == 1, within=REPLICATED, what="first entry replicated")
    await b.mqtt.stop()  # desk-b's cable is pulled
    await wait_until(lambda: b.offline, within=REPLICATED, what="desk-b offline")
    done = await a.revoke(pin=PIN, attendee_id="A004", reason="badge reported stolen")
    clock.advance(minutes=1)
    at_b = await b.scan(code, nonce=nonce())
    assert at_b.result is Result.OK and at_b.offline  # desk-b cannot know yet
    assert done.ref not in b.badges.revoked
    await b.mqtt.start()  # the cable is back
    await wait_until(lambda: counts(a) == counts(b) == (2, 2, 1), within=HEAL,
                     what=f"converged with the stolen badge flagged (a {counts(a)}, b {counts(b)})")
    for service in (a, b):
        view = await service.staff_view()
        (flag,) = view["conflicts"]
        assert flag["name"] == "Zhang Wei" and flag["revoked"]
        assert flag["first"]["kiosk"] == flag["second"]["kiosk"] == "desk-b" and flag["second"]["offline"]
        assert view["counts"][0]["conflicts"] == 1
    assert (await b.scan(code, nonce=nonce())).result is Result.REVOKED  # never again, now that it is known


async def test_altered_forged_and_replayed_revocation_messages_are_refused_and_counted(fleet):
    desk, a, b, leg, site, _ = fleet
    topic = f"roomctl/{site}/kiosks/desk-a/badges"
    spy, seen = await spy_on(leg, topic)
    try:
        done = await a.revoke(pin=PIN, attendee_id="A002", reason="lost badge")
        await wait_until(lambda: any(b'"type":"badges"' in m.payload for m in seen), within=REPLICATED,
                         what="the revocation on the wire")
        await wait_until(lambda: done.ref in b.badges.revoked, within=WITHIN_A_SECOND, what="applied at desk-b")
        genuine = next(m for m in seen if b'"type":"badges"' in m.payload)
        assert "李娜" not in genuine.payload.decode() and "A002" not in genuine.payload.decode()  # references only
        body = json.loads(genuine.payload)
        other = ref_of(desk, "A003")
        altered = dict(body, revoked=[[other] + body["revoked"][0][1:]])  # another badge, the same signature
        forged = sign({**altered, "msg": "0123456789abcdef"}, b"not-the-site-secret-0123456789")
        with_private = sign({**body, "msg": "fedcba9876543210",
                             "keys": [[9, base64.b64encode(bytes(32)).decode(), "verify", "cHJpdmF0ZQ=="]]})
        before = b.replicator.stats.rejected
        for payload in (json.dumps(altered).encode(), forged, with_private, genuine.payload):  # the last: a replay
            spy.publish_nowait(topic, payload)
        await wait_until(lambda: b.replicator.stats.rejected >= before + 4, within=REPLICATED,
                         what=f"four refusals (last: {b.replicator.stats.last_rejection})")
        assert b.replicator.stats.replayed >= 1
        assert list(b.badges.revoked) == [done.ref] and 9 not in b.badges.keys
        assert (await b.scan(desk.badge("A003"), nonce=nonce())).result is Result.OK
    finally:
        await spy.stop()


def sign(body: dict, secret: bytes = SECRET.encode()) -> bytes:
    """A message signed as the sync protocol says: HMAC-SHA256 over the body's compact JSON
    bytes, appended as the last member."""
    text = json.dumps({k: v for k, v in body.items() if k != "mac"}, separators=(",", ":")).encode()
    return text[:-1] + b',"mac":"' + hmac.new(secret, text, hashlib.sha256).hexdigest().encode() + b'"}'


async def test_a_new_key_reaches_running_desks_and_a_retired_one_stops_counting(fleet):
    desk, a, b, leg, site, _ = fleet
    spy, seen = await spy_on(leg, f"roomctl/{site}/kiosks/desk-a/badges")
    try:
        old_badge = desk.badge("A002")  # signed with key 1
        key_id = new_key(desk.store)  # `roomctl kiosk keys CONFIG new` on the organiser's desk, while it runs
        new_badge = desk.badge("A003")  # signed with the new key
        for service in (a, b):
            await wait_until(lambda s=service: key_id in s.engine.keyring.states(), within=WITHIN_A_SECOND,
                             what=f"key {key_id} at {service.config.id}")
        assert (await b.scan(new_badge, nonce=nonce())).result is Result.OK
        assert (await a.scan(desk.badge("A004"), nonce=nonce())).result is Result.OK  # and desk-a, unrestarted
        db = sqlite3.connect(desk.path)
        private = db.execute("SELECT private FROM badge_keys WHERE key_id = ?", (key_id,)).fetchone()[0]
        db.close()
        assert private and not sqlite3.connect(b.store.path).execute(
            "SELECT private FROM badge_keys WHERE private IS NOT NULL").fetchall()
        for secret_form in (base64.b64encode(private), private.hex().encode()):
            assert not any(secret_form in m.payload for m in seen)  # public halves only, ever

        retire_key(desk.store, 1)  # `roomctl kiosk keys CONFIG retire 1`
        await wait_until(lambda: b.badges.keys[1].retired, within=WITHIN_A_SECOND, what="key 1 retired at desk-b")
        await wait_until(lambda: b.engine.keyring.states()[1] == "retired", within=WITHIN_A_SECOND,
                         what="desk-b's key ring")
        refused = await b.scan(old_badge, nonce=nonce())
        assert refused.result is Result.INVALID and refused.detail == "retired key"
    finally:
        await spy.stop()


# --- one desk, no broker ---------------------------------------------------------------------


async def test_a_desk_without_sync_takes_up_a_key_added_to_its_store_while_it_runs(service, desk):
    key_id = new_key(desk.store)
    await wait_until(lambda: key_id in service.engine.keyring.states(), within=4 * BADGE_POLL + 1,
                     what="the new key in the running desk's key ring")
    assert (await service.scan(desk.badge("A002"), nonce=nonce())).result is Result.OK
    badge = desk.badge("A003")
    retire_key(desk.store, key_id)
    await wait_until(lambda: service.engine.keyring.states()[key_id] == "retired", within=4 * BADGE_POLL + 1,
                     what="the key retired in the running desk's key ring")
    assert (await service.scan(badge, nonce=nonce())).detail == "retired key"


# --- the merge: the same result in any order, whatever is repeated --------------------------------


REF, OTHER, NEW_1, NEW_2 = "AAAAAAAAAAAAA", "BBBBBBBBBBBBB", "CCCCCCCCCCCCC", "DDDDDDDDDDDDD"
EARLY, LATE = "2025-06-01T00:30:00.000000+00:00", "2025-06-01T00:45:00.000000+00:00"


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2, 1, 0)])
def test_revocations_merge_to_the_same_record_in_any_order(tmp_path, order):
    store = make_desk(tmp_path, csv_text="id,name\nX1,占位\n").store
    heard = [Revocation(REF, LATE, "lost", NEW_2), Revocation(REF, EARLY, "stolen"), Revocation(REF, LATE, "lost", NEW_1)]
    db = store.connect()
    for i in order:
        merge_badges(db, [heard[i]], [])
    assert db.execute("SELECT ref, at, reason, reissued FROM revoked").fetchall() == [(REF, EARLY, "stolen", NEW_1)]
    db.close()


def test_a_retired_key_never_comes_back_and_a_different_key_under_a_known_id_is_refused(tmp_path):
    desk = make_desk(tmp_path)
    db = desk.store.connect()
    public = bytes(db.execute("SELECT public FROM badge_keys WHERE key_id = 1").fetchone()[0])
    assert merge_badges(db, [], [PublicKey(1, public, retired=True)]).keys
    assert not merge_badges(db, [], [PublicKey(1, public, retired=False)]).keys
    assert db.execute("SELECT state, private FROM badge_keys").fetchall() == [("retired", None)]
    _, impostor = Keyring.generate()
    assert merge_badges(db, [], [PublicKey(1, impostor, retired=False)]).refused
    db.close()


def test_an_old_pack_cannot_bring_back_a_retired_key_nor_replace_a_key(tmp_path):
    desk = make_desk(tmp_path)
    export_pack(desk.store, desk.config, tmp_path / "old-pack.json")
    retire_key(desk.store, 1)
    import_attendees(desk.store, desk.config, tmp_path / "old-pack.json")
    assert sqlite3.connect(desk.path).execute("SELECT state FROM badge_keys").fetchall() == [("retired",)]
    pack = json.loads((tmp_path / "old-pack.json").read_text(encoding="utf-8"))
    pack["keys"][0]["public"] = base64.b64encode(Keyring.generate()[1]).decode()
    (tmp_path / "impostor.json").write_text(json.dumps(pack), encoding="utf-8")
    with pytest.raises(ImportRejected):
        import_attendees(desk.store, desk.config, tmp_path / "impostor.json")


# Items as the badges message carries them (kiosk/sync.py's protocol comment).
KEY = base64.b64encode(bytes(range(32))).decode()
GOOD_ITEMS = [
    (decode_revocation, [REF, LATE, "lost", None], Revocation(REF, LATE, "lost")),
    (decode_revocation, [REF, "", "", NEW_1], Revocation(REF, "", "", NEW_1)),
    (decode_key, [3, KEY, "retired"], PublicKey(3, bytes(range(32)), True)),
]
BAD_ITEMS = [
    (decode_key, [3, KEY, "verify", KEY]),  # a private half along with it
    (decode_key, [3, KEY, "active"]),  # which key signs is each desk's own business
    (decode_key, [256, KEY, "verify"]),
    (decode_key, [3, base64.b64encode(bytes(31)).decode(), "verify"]),
    (decode_revocation, ["A002", LATE, "lost", None]),  # an attendee id, not a reference
    (decode_revocation, [REF, "2025-06-01T08:30:00", "lost", None]),  # no UTC offset
    (decode_revocation, [REF, LATE, "x" * 201, None]),
    (decode_revocation, [REF, LATE, "lost", REF]),
    (decode_revocation, {"ref": REF}),
]


@pytest.mark.parametrize("decode, raw, expected", GOOD_ITEMS)
def test_badge_items_are_read_from_the_wire(decode, raw, expected):
    assert decode(raw) == expected


@pytest.mark.parametrize("decode, raw", BAD_ITEMS)
def test_malformed_badge_items_are_refused(decode, raw):
    with pytest.raises(ValueError):
        decode(raw)

