"""The kiosk section of a site config: which desk this is, its lists, scanners, PIN, sync.

```yaml
kiosk:
  id: desk-1                  # this desk: in topics, the sign-in sheet, "already checked in at …"
  event: 2024                 # the event id printed into badges (0–65535)
  list: plenary               # the list this desk checks against unless a scanner says otherwise
  lists:
    - {id: plenary, name: 全体大会, opens: 2025-06-01T07:30:00+08:00, starts: 2025-06-01T09:00:00+08:00,
       closes: 2025-06-01T12:00:00+08:00}
  scanners:
    - {id: left, kind: hid, name: usb-Honeywell_Imaging_1900-event-kbd}
    - {id: right, kind: serial, port: /dev/ttyACM0}
  supervisor_pin: "scrypt$…"  # `roomctl kiosk pin` makes one; plain digits work for a demo
  sync_secret: a-long-random-shared-secret   # kiosks of a site replicate over its MQTT broker
```
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import zoneinfo
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# scrypt parameters for the supervisor PIN: ~50 ms on a kiosk PC, so guessing a 6-digit PIN
# offline from a stolen config takes hours, not seconds.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
# The models have a field called `list` (as in YAML); annotations below it need another name.
ListOf = list


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckinListConfig(_Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, description="What staff and the sign-in sheet call it")
    opens: datetime | None = Field(None, description="Sign-in opens (with a UTC offset); none: always open")
    starts: datetime | None = Field(None, description="The meeting starts: arrivals after this are late")
    closes: datetime | None = Field(None, description="Sign-in closes; none: never")

    @field_validator("opens", "starts", "closes")
    @classmethod
    def _with_offset(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time with its UTC offset, e.g. 2025-06-01T09:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _in_order(self) -> "CheckinListConfig":
        times = [t for t in (self.opens, self.starts, self.closes) if t is not None]
        if times != sorted(times):
            raise ValueError("opens ≤ starts ≤ closes")
        return self


class ScannerConfig(_Model):
    id: str = Field(pattern=ID_PATTERN)
    kind: Literal["hid", "serial"]
    name: str | None = Field(None, description="hid: the device's name under /dev/input/by-id/")
    port: str | None = Field(None, description="serial: /dev/ttyACM0, a pty, or a pyserial URL")
    baudrate: int = Field(9600, ge=50, le=4_000_000)
    list: str | None = Field(None, description="The list its scans go to; default: the desk's")
    direction: Literal["in", "out"] = Field("in", description="An entrance or an exit scanner")

    @model_validator(mode="after")
    def _address(self) -> "ScannerConfig":
        if self.kind == "hid" and (not self.name or self.port):
            raise ValueError("a hid scanner is found by name (under /dev/input/by-id/), not port")
        if self.kind == "serial" and (not self.port or self.name):
            raise ValueError("a serial scanner needs a port")
        if self.name is not None and "/" in self.name:
            raise ValueError("name is the file name under /dev/input/by-id/, without a path")
        return self


class KioskConfig(_Model):
    id: str = Field(pattern=ID_PATTERN, description="This desk; unique among the site's kiosks")
    event: int = Field(ge=0, le=0xFFFF, description="The event id in badges")
    store: str = Field("kiosk.sqlite3", description="This desk's own check-in log; relative to the site store's folder")
    durability: Literal["full", "normal"] = Field(
        "full", description="full: a check-in survives a power cut (fsync per commit); normal: survives a crash")
    list: str | None = Field(None, description="The list this desk checks against; default: the first")
    lists: ListOf[CheckinListConfig] = Field(default_factory=lambda: [CheckinListConfig(id="main", name="Main")])
    scanners: ListOf[ScannerConfig] = Field(default_factory=ListOf)
    supervisor_pin: SecretStr = Field(description="Digits (4–12), or a scrypt hash from `roomctl kiosk pin`")
    sync: bool = Field(True, description="Share check-ins with the site's other kiosks over MQTT")
    sync_secret: SecretStr | None = Field(None, min_length=16, description="Shared by the site's kiosks; signs sync")
    language: Literal["zh-CN", "en"] = "zh-CN"
    timezone: str = Field("Asia/Shanghai", description="For times on pages and the sign-in sheet")
    result_seconds: float = Field(2.5, ge=2.0, le=3.0, description="How long a result stays on the kiosk page")
    search_min_chars: int = Field(2, ge=1, le=8, description="Name search shows nothing below this many characters")

    @field_validator("supervisor_pin")
    @classmethod
    def _pin_shape(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not (re.fullmatch(r"\d{4,12}", text) or text.startswith("scrypt$")):
            raise ValueError("a PIN is 4–12 digits, or a hash from `roomctl kiosk pin`")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "KioskConfig":
        ids = [item.id for item in self.lists]
        if len(set(ids)) != len(ids):
            raise ValueError("list ids must be unique")
        if not ids:
            raise ValueError("at least one check-in list")
        for list_id in [self.list] + [s.list for s in self.scanners]:
            if list_id is not None and list_id not in ids:
                raise ValueError(f"no list {list_id!r} (lists: {', '.join(ids)})")
        scanner_ids = [s.id for s in self.scanners]
        if len(set(scanner_ids)) != len(scanner_ids):
            raise ValueError("scanner ids must be unique")
        if self.sync and self.sync_secret is None:
            raise ValueError("sync needs a sync_secret shared by the site's kiosks (or sync: false)")
        return self

    @property
    def default_list(self) -> str:
        return self.list or self.lists[0].id

    def list_config(self, list_id: str) -> CheckinListConfig:
        for item in self.lists:
            if item.id == list_id:
                return item
        raise KeyError(list_id)


def hash_pin(pin: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${salt.hex()}${digest.hex()}"


def pin_matches(configured: str, offered: str) -> bool:
    if configured.startswith("scrypt$"):
        _, salt, digest = configured.split("$")
        mine = hashlib.scrypt(offered.encode(), salt=bytes.fromhex(salt), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
        return hmac.compare_digest(mine.hex(), digest)
    return hmac.compare_digest(configured.encode(), offered.encode())
