"""Who may use the controller, beside the tokens: people who sign in with a PIN on a shared
device, how long their sessions last, how hard a PIN may be guessed, which browser origins
may write, and whether anonymous callers may read.

Lives under ``api.auth`` in the site config; tokens stay in ``api.tokens``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# Roles a person signing in with a PIN may have: the desk's kiosk role is a machine's, not a person's.
PIN_ROLES = r"^(staff|tablet|technician|admin)$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PinUserConfig(_Model):
    """A person who signs in on a shared device (the technicians' PC, a room's tablet) with name and PIN."""

    name: str = Field(min_length=1, max_length=100, description="What they type, and who the event log says it was")
    pin: SecretStr = Field(description="Digits (4–12), or a scrypt hash from `roomctl kiosk pin`")
    role: str = Field("technician", pattern=PIN_ROLES)
    room: str | None = Field(None, pattern=ID_PATTERN, description="tablet: the one room this person may control")

    @field_validator("pin")
    @classmethod
    def _digits_or_hash(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not (re.fullmatch(r"\d{4,12}", text) or text.startswith("scrypt$")):
            raise ValueError("a PIN is 4–12 digits, or a scrypt hash from `roomctl kiosk pin`")
        return value

    @model_validator(mode="after")
    def _room_for_tablets(self) -> "PinUserConfig":
        _check_room_binding(self.role, self.room)
        return self


class SessionConfig(_Model):
    """A PIN session ends when it has been idle this long, and in any case after ``max_hours``."""

    idle_minutes: float = Field(30.0, gt=0, le=24 * 60, description="Signed out after this long without a request")
    max_hours: float = Field(12.0, gt=0, le=24 * 7, description="Signed out this long after signing in, whatever happens")


class LoginLimitConfig(_Model):
    """Wrong PINs lock the name, and the device they come from, for a while: a 6-digit PIN
    at 5 guesses per 30 s takes years to find."""

    max_failures: int = Field(5, ge=1, le=100, description="Wrong PINs in a row before the lock")
    lockout_seconds: float = Field(30.0, gt=0, le=24 * 3600, description="How long a lock lasts")


class AuthConfig(_Model):
    open_reads: Literal["loopback", "everywhere", "nowhere"] = Field(
        "loopback", description="Reads without a token: from this machine only (loopback: the CLI, local tools), "
                                "from anywhere, or never. Behind a reverse proxy on this machine, set nowhere.")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins besides the controller's own that may write and open sockets, e.g. https://ops.example")
    pin_users: list[PinUserConfig] = Field(default_factory=list)
    sessions: SessionConfig = Field(default_factory=SessionConfig)
    login: LoginLimitConfig = Field(default_factory=LoginLimitConfig)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return [origin.lower() for origin in origins]

    @field_validator("pin_users")
    @classmethod
    def _unique_names(cls, users: list[PinUserConfig]) -> list[PinUserConfig]:
        seen: set[str] = set()
        for user in users:
            if user.name.casefold() in seen:
                raise ValueError(f"PIN user {user.name!r} appears twice")
            seen.add(user.name.casefold())
        return users


def _check_room_binding(role: str, room: str | None) -> None:
    if role == "tablet" and room is None:
        raise ValueError("a tablet is bound to one room: give room")
    if role != "tablet" and room is not None:
        raise ValueError(f"room binds tablets only; a {role} may use every room")


def check_token_room(role: str, room: str | None) -> None:
    """For api.tokens: a tablet token names its room; other tokens name none."""
    _check_room_binding(role, room)


def check_rooms_exist(config) -> None:
    """Every tablet binding names a room of the site (called by SiteConfig's validator)."""
    rooms = {room.id for room in config.rooms}
    for i, token in enumerate(config.api.tokens):
        if token.room is not None and token.room not in rooms:
            raise ValueError(f"api.tokens[{i}] ({token.name}): no room {token.room!r}")
    for i, user in enumerate(config.api.auth.pin_users):
        if user.room is not None and user.room not in rooms:
            raise ValueError(f"api.auth.pin_users[{i}] ({user.name}): no room {user.room!r}")
