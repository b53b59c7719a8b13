"""Desks sharing check-ins over a real broker: replication, a partition and its healing,
and messages that are altered, replayed or garbage. Both legs: roomctl's embedded broker
(stopped and restarted: every desk cut off) and the machine's Mosquitto (one desk cut off)."""

from __future__ import annotations

import json

import pytest

from desks import HEAL, REPLICATED, counts, nonce, start_fleet
from drivers.transports.base import Message
from drivers.transports.mqtt import BrokerSettings, MqttConnection
from helpers import wait_until
from kiosk.checkin import Result
from kiosk.errors import SyncRejected
from kiosk.sync import seal, unseal
from controller.mqtt_broker import EmbeddedBroker
from mqtt_legs import MOSQUITTO, broker, mosquitto_unreachable, unique  # noqa: F401  (the fixture)


@pytest.fixture
async def fleet(tmp_path, broker):  # noqa: F811
    desk, a, b, site = await start_fleet(tmp_path, broker.host, broker.port)
    yield desk, a, b, broker, site
    for service in (a, b):
        await service.stop()


async def test_a_check_in_at_one_desk_is_known_at_the_other(fleet):
    desk, a, b, _, _ = fleet
    code = desk.badge("A002")
    assert (await a.scan(code, nonce=nonce())).result is Result.OK
    await wait_until(lambda: counts(b)[0] == 1, within=REPLICATED, what="entry replicated to desk-b")
    again = await b.scan(code, nonce=nonce())
    assert again.result is Result.ALREADY and again.previous["kiosk"] == "desk-a"


@pytest.mark.parametrize("cut", ["broker stopped", "desk cut off"])
async def test_a_partition_then_healing_flags_one_conflict_and_counts_converge(tmp_path, cut):
    embedded = None
    if cut == "broker stopped":  # roomctl's embedded broker, ours to stop: every desk loses it
        embedded = EmbeddedBroker()
        await embedded.start()
        host, port = embedded.host, embedded.port
    else:  # the machine's Mosquitto stays up; desk-a's network cable is pulled
        if (reason := mosquitto_unreachable()) is not None:
            pytest.skip(reason)
        host, port = MOSQUITTO
    desk, a, b, _ = await start_fleet(tmp_path, host, port)
    try:
        await a.scan(desk.badge("A003"), nonce=nonce())  # before the cut: known to both
        await wait_until(lambda: counts(b)[0] == 1, within=REPLICATED, what="first entry replicated")
        if embedded is not None:
            await embedded.stop()
            await wait_until(lambda: a.offline and b.offline, within=REPLICATED, what="both desks offline")
        else:
            await a.mqtt.stop()
            await wait_until(lambda: a.offline, within=REPLICATED, what="desk-a offline")
        code = desk.badge("A004")
        at_a = await a.scan(code, nonce=nonce())
        at_b = await b.scan(code, nonce=nonce())
        assert at_a.result is Result.OK and at_a.offline  # both desks let the person in: neither can know
        assert at_b.result is Result.OK
        await a.scan(desk.badge("A002"), nonce=nonce())  # and desk-a goes on signing people in
        if embedded is not None:
            await embedded.start()  # same port; the desks reconnect by themselves
        else:
            await a.mqtt.start()  # the cable is back
        await wait_until(lambda: counts(a) == counts(b) == (4, 3, 1), within=HEAL,
                         what=f"converged with one conflict (a {counts(a)}, b {counts(b)})")
        for service in (a, b):
            view = await service.staff_view()
            (conflict,) = view["conflicts"]
            assert conflict["name"] == "Zhang Wei"
            assert {conflict["first"]["kiosk"], conflict["second"]["kiosk"]} == {"desk-a", "desk-b"}
            assert view["counts"][0]["signed_in"] == 3  # counted once, never twice
    finally:
        for service in (a, b):
            await service.stop()
        if embedded is not None:
            await embedded.stop()


async def test_altered_replayed_and_garbage_messages_change_nothing(fleet):
    desk, a, b, leg, site = fleet
    seen: list[Message] = []
    spy = MqttConnection(BrokerSettings(host=leg.host, port=leg.port, client_id=unique("spy")))
    await spy.start()
    await spy.wait_connected(REPLICATED)
    await spy.subscribe(f"roomctl/{site}/kiosks/desk-a/checkins", seen.append)
    try:
        await a.scan(desk.badge("A002"), nonce=nonce())
        await wait_until(lambda: any(b'"entries"' in m.payload for m in seen), within=REPLICATED, what="a message")
        await wait_until(lambda: counts(b)[0] == 1, within=REPLICATED, what="replicated")
        genuine = next(m for m in seen if b'"entries"' in m.payload)
        body = json.loads(genuine.payload)
        assert "李娜" not in genuine.payload.decode() and "A002" not in genuine.payload.decode()  # references only
        topic = genuine.topic
        altered = dict(body, entries=[[2] + body["entries"][0][1:]])  # a second entry, made up ...
        altered_bytes = json.dumps({k: v for k, v in altered.items() if k != "mac"}, separators=(",", ":"),
                                   ensure_ascii=False).encode()
        spy.publish_nowait(topic, altered_bytes[:-1] + genuine.payload[-74:])  # ... under the genuine MAC
        resigned = dict(body, site="elsewhere")
        spy.publish_nowait(topic, json.dumps(resigned).encode())
        spy.publish_nowait(topic, b"\x00" * 2000)
        spy.publish_nowait(f"roomctl/{site}/kiosks/desk-b/checkins", genuine.payload)  # desk-a's message as desk-b's
        spy.publish_nowait(topic, genuine.payload)  # a replay
        await wait_until(lambda: b.replicator.stats.rejected >= 4, within=REPLICATED, what="four rejections")
        assert counts(b) == (1, 1, 0)
        assert b.replicator.stats.last_rejection
    finally:
        await spy.stop()


SEALED_SECRET = b"a-site-secret-for-the-seal-table-0123"


def _resealed_tail(payload: bytes, change) -> bytes:
    return change(payload[:-74]) + payload[-74:]


@pytest.mark.parametrize(("what", "payload", "reason"), [
    ("a flipped byte in the body", lambda p: _resealed_tail(p, lambda b: b.replace(b'"seq":7', b'"seq":8')),
     "bad signature"),
    ("a flipped MAC digit", lambda p: p[:-3] + (b"0" if p[-3:-2] != b"0" else b"1") + p[-2:], "bad signature"),
    ("signed with another secret", lambda p: seal(b"another-secret-entirely-0123456789", {"type": "head", "seq": 7}),
     "bad signature"),
    ("the MAC cut off", lambda p: p[:-74] + b"}", "not a signed kiosk message"),
    ("truncated", lambda p: p[:40], "not a signed kiosk message"),
    ("re-serialised with spaces", lambda p: json.dumps(json.loads(p)).encode(), "not a signed kiosk message"),
    ("empty", lambda p: b"", "not a signed kiosk message"),
])
def test_a_sealed_message_is_checked_on_its_bytes_before_anything_is_parsed(what, payload, reason):
    genuine = seal(SEALED_SECRET, {"type": "head", "seq": 7, "origin": "desk-a.0badc0de", "名": "参会者"})
    assert unseal(SEALED_SECRET, genuine) == {"type": "head", "seq": 7, "origin": "desk-a.0badc0de", "名": "参会者"}
    assert json.loads(genuine)["mac"]  # still one JSON object for anyone reading the broker
    with pytest.raises(SyncRejected, match=reason):
        unseal(SEALED_SECRET, payload(genuine))


def test_a_signed_payload_that_is_not_a_json_object_is_refused():
    import hashlib
    import hmac

    text = b"[1,2,3]"
    sealed = text[:-1] + b',"mac":"' + hmac.new(SEALED_SECRET, text, hashlib.sha256).hexdigest().encode() + b'"}'
    with pytest.raises(SyncRejected):
        unseal(SEALED_SECRET, sealed)
    with pytest.raises(ValueError):
        seal(SEALED_SECRET, {})
