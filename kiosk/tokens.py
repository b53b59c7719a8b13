"""Badge tokens: what a QR code on a badge (代表证) or an invitation carries.

Layout (protocols/checkin.md), 76 bytes, Base32 (RFC 4648, A–Z 2–7, no padding) →
122 characters, which QR alphanumeric mode holds in a version 6 symbol at level M:

    offset  size  field
    0       1     version (1)
    1       1     key id (0–255): which signing key; rotation adds one, retiring drops one
    2       2     event id, big-endian
    4       8     attendee reference: random, no personal data
    12      64    Ed25519 signature over DOMAIN + bytes 0–11

A code is checkable offline with the public keys alone. The signature covers a domain
prefix so a signature made by the same key for anything else can never pass as a badge.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiosk.errors import BadCode, BadSignature, NoSigningKey, RetiredKey, UnknownKey, WrongEvent

VERSION = 1
DOMAIN = b"roomctl badge v1\x00"
HEADER = struct.Struct(">BBH8s")
REF_BYTES = 8
SIGNATURE_BYTES = 64
TOKEN_BYTES = HEADER.size + SIGNATURE_BYTES  # 76
TOKEN_CHARS = -(-TOKEN_BYTES * 8 // 5)  # 122
REF_CHARS = -(-REF_BYTES * 8 // 5)  # 13
_BASE32 = re.compile(r"[A-Z2-7]*")
_REF = re.compile(rf"[A-Z2-7]{{{REF_CHARS}}}")


class KeyState(StrEnum):
    ACTIVE = "active"    # signs new badges, verifies
    VERIFY = "verify"    # an older key: its badges still count, it signs nothing new
    RETIRED = "retired"  # its badges no longer count


@dataclass(frozen=True, slots=True)
class BadgeClaims:
    key_id: int
    event_id: int
    ref: str  # the attendee reference, Base32 (13 characters)


def new_ref() -> str:
    """A random attendee reference: 64 bits, nothing derived from the person."""
    return _b32(os.urandom(REF_BYTES))


def is_ref(text: str) -> bool:
    return bool(_REF.fullmatch(text))


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _unb32(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def parse(code: str) -> tuple[BadgeClaims, bytes, bytes]:
    """Split a code into its claims, the signed bytes and the signature; checks shape only."""
    text = code.strip().upper()
    if not text:
        raise BadCode("empty code")
    if len(text) < TOKEN_CHARS:
        raise BadCode(f"truncated: {len(text)} of {TOKEN_CHARS} characters")
    if len(text) > TOKEN_CHARS:
        raise BadCode(f"too long: {len(text)} characters, a badge has {TOKEN_CHARS}")
    if not _BASE32.fullmatch(text):
        raise BadCode("not a badge code: characters outside Base32")
    try:
        raw = _unb32(text)
    except (binascii.Error, ValueError):
        raise BadCode("damaged: not valid Base32") from None
    if _b32(raw) != text:  # the last character's spare bits must be zero: one code, one spelling
        raise BadCode("damaged: not a canonical Base32 code")
    version, key_id, event_id, ref = HEADER.unpack_from(raw)
    if version != VERSION:
        raise BadCode(f"unknown badge version {version}")
    return BadgeClaims(key_id, event_id, _b32(ref)), DOMAIN + raw[: HEADER.size], raw[HEADER.size:]


@dataclass
class _Key:
    public: Ed25519PublicKey
    state: KeyState
    private: Ed25519PrivateKey | None = None


class Keyring:
    """The event's signing keys by id. Kiosks hold public keys only; the organiser's machine
    also holds the private key of the active one."""

    def __init__(self, event_id: int) -> None:
        if not 0 <= event_id <= 0xFFFF:
            raise ValueError("event id is 0–65535")
        self.event_id = event_id
        self._keys: dict[int, _Key] = {}

    # --- keys ---------------------------------------------------------------------

    def add(self, key_id: int, public: bytes, state: KeyState = KeyState.VERIFY, private: bytes | None = None) -> None:
        if not 0 <= key_id <= 0xFF:
            raise ValueError("key id is 0–255")
        self._keys[key_id] = _Key(Ed25519PublicKey.from_public_bytes(public), KeyState(state),
                                  Ed25519PrivateKey.from_private_bytes(private) if private else None)

    def set_state(self, key_id: int, state: KeyState) -> None:
        if key_id not in self._keys:
            raise UnknownKey(key_id)
        self._keys[key_id].state = KeyState(state)

    def states(self) -> dict[int, KeyState]:
        return {key_id: key.state for key_id, key in sorted(self._keys.items())}

    @staticmethod
    def generate() -> tuple[bytes, bytes]:
        """A new key pair: (private, public), raw 32-byte encodings."""
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
        return raw, public_bytes(private)

    # --- badges -------------------------------------------------------------------

    def sign(self, ref: str) -> str:
        """The code for an attendee reference, signed with the active key."""
        active = [(key_id, key) for key_id, key in self._keys.items() if key.state is KeyState.ACTIVE and key.private]
        if not active:
            raise NoSigningKey("no active key with its private half here: `roomctl kiosk keys new` makes one")
        key_id, key = max(active)
        if not is_ref(ref):
            raise ValueError(f"{ref!r} is not an attendee reference")
        header = HEADER.pack(VERSION, key_id, self.event_id, _unb32(ref))
        return _b32(header + key.private.sign(DOMAIN + header))

    def verify(self, code: str) -> BadgeClaims:
        """The claims of a genuine, current badge of this event; raises a BadCode otherwise."""
        claims, signed, signature = parse(code)
        key = self._keys.get(claims.key_id)
        if key is None:
            raise UnknownKey(claims.key_id)
        if key.state is KeyState.RETIRED:
            raise RetiredKey(claims.key_id)
        try:
            key.public.verify(signature, signed)
        except InvalidSignature:
            raise BadSignature("signature does not match: altered or forged") from None
        if claims.event_id != self.event_id:
            raise WrongEvent(claims.event_id)
        return claims


def public_bytes(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
