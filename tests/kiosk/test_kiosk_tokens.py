"""Badge tokens: the layout of protocols/checkin.md, and every way a code can be wrong."""

import base64
import struct

import pytest
import segno

from kiosk.errors import BadCode, BadSignature, RetiredKey, UnknownKey, WrongEvent
from kiosk.tokens import TOKEN_CHARS, Keyring, KeyState, new_ref, parse

# RFC 8032 §7.1 test 1: the secret key and its public key — an Ed25519 key from the spec, not from us.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
EVENT = 2024


@pytest.fixture
def keyring() -> Keyring:
    ring = Keyring(EVENT)
    ring.add(3, RFC8032_PUBLIC, KeyState.ACTIVE, RFC8032_SECRET)
    return ring


def flip(code: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return code[:index] + alphabet[(alphabet.index(code[index]) + 1) % 32] + code[index + 1:]


def test_a_badge_code_is_base32_without_padding_and_carries_no_personal_data(keyring):
    ref = new_ref()
    code = keyring.sign(ref)
    assert len(code) == TOKEN_CHARS == 122
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    raw = base64.b32decode(code + "=" * (-len(code) % 8))
    version, key_id, event_id = struct.unpack(">BBH", raw[:4])
    assert (version, key_id, event_id) == (1, 3, EVENT)
    assert base64.b32encode(raw[4:12]).decode().rstrip("=") == ref  # the reference, nothing else
    assert len(raw) == 76  # 12 bytes of header, the 64-byte signature


def test_a_badge_code_fits_a_small_qr_code_in_alphanumeric_mode_at_level_m(keyring):
    qr = segno.make(keyring.sign(new_ref()), error="m", boost_error=False)
    assert qr.mode == "alphanumeric" and qr.error == "M"
    assert qr.version <= 6


def test_a_genuine_badge_verifies_offline_with_the_public_key_alone(keyring):
    ref = new_ref()
    code = keyring.sign(ref)
    kiosk = Keyring(EVENT)
    kiosk.add(3, RFC8032_PUBLIC)  # public only, as on a desk
    claims = kiosk.verify(code)
    assert (claims.key_id, claims.event_id, claims.ref) == (3, EVENT, ref)


def test_scanners_that_lowercase_or_pad_with_spaces_still_read(keyring):
    code = keyring.sign(new_ref())
    assert keyring.verify(f"  {code.lower()}\t").ref == keyring.verify(code).ref


BAD = [
    ("empty", lambda code: "", "empty"),
    ("truncated by a bad read", lambda code: code[:100], "truncated"),
    ("one character short", lambda code: code[:-1], "truncated"),
    ("longer than a badge", lambda code: code + "A", "too long"),
    ("kilobytes of garbage", lambda code: "Q" * 4096, "too long"),
    ("characters outside Base32", lambda code: code[:50] + "1" + code[51:], "outside Base32"),
    ("a URL someone printed", lambda code: "https://example.com/" + code[:102], "outside Base32"),
    ("a damaged header (version)", lambda code: "B" + code[1:], "version"),
]


@pytest.mark.parametrize("case, damage, reason", BAD, ids=[b[0] for b in BAD])
def test_codes_that_are_not_badges_are_refused_with_a_reason(keyring, case, damage, reason):
    with pytest.raises(BadCode) as refused:
        keyring.verify(damage(keyring.sign(new_ref())))
    assert reason in refused.value.reason


@pytest.mark.parametrize("index", [5, 10, 19, 30, 70, 121])  # reference, event, signature bits
def test_any_altered_character_fails_the_signature(keyring, index):
    code = keyring.sign(new_ref())
    with pytest.raises((BadSignature, UnknownKey, WrongEvent, BadCode)):
        keyring.verify(flip(code, index))


def test_a_badge_with_someone_elses_reference_spliced_in_fails(keyring):
    mine, theirs = keyring.sign(new_ref()), keyring.sign(new_ref())
    spliced = theirs[:20] + mine[20:]  # their header and reference, my signature
    with pytest.raises(BadSignature):
        keyring.verify(spliced)


def test_a_badge_signed_by_a_key_this_desk_does_not_know_is_refused(keyring):
    other = Keyring(EVENT)
    private, public = Keyring.generate()
    other.add(9, public, KeyState.ACTIVE, private)
    with pytest.raises(UnknownKey) as refused:
        keyring.verify(other.sign(new_ref()))
    assert refused.value.key_id == 9


def test_a_forger_reusing_a_known_key_id_fails_the_signature(keyring):
    forger = Keyring(EVENT)
    private, public = Keyring.generate()
    forger.add(3, public, KeyState.ACTIVE, private)  # our key id, their key
    with pytest.raises(BadSignature):
        keyring.verify(forger.sign(new_ref()))


def test_a_genuine_badge_of_another_event_is_refused(keyring):
    other_event = Keyring(EVENT + 1)
    other_event.add(3, RFC8032_PUBLIC, KeyState.ACTIVE, RFC8032_SECRET)
    with pytest.raises(WrongEvent):
        keyring.verify(other_event.sign(new_ref()))


def test_rotation_keeps_old_badges_good_until_their_key_is_retired(keyring):
    old_badge = keyring.sign(new_ref())
    private, public = Keyring.generate()
    keyring.set_state(3, KeyState.VERIFY)
    keyring.add(4, public, KeyState.ACTIVE, private)
    new_badge = keyring.sign(new_ref())
    assert parse(new_badge)[0].key_id == 4
    assert keyring.verify(old_badge).key_id == 3
    keyring.set_state(3, KeyState.RETIRED)
    with pytest.raises(RetiredKey):
        keyring.verify(old_badge)
    assert keyring.verify(new_badge).key_id == 4
