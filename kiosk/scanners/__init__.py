"""Badge scanners: USB keyboard-wedge (evdev) and serial / USB-CDC, one interface.

A scanner reader turns whatever its device sends into whole codes and hands each to
``on_code(code, scanner_id)``; the symbology identifier (``]Q1`` for a QR code) is
stripped here, once, for every kind of scanner.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

# A badge code is 122 characters; anything far longer is garbage (a scanner read a page
# of text, or a stuck key). Longer input is cut here and then fails as "too long".
MAX_CODE = 1024

CodeReceiver = Callable[[str, str], None]

# AIM symbology identifiers: "]" + code character + modifier digit (]Q1 QR, ]C1 Code 128, ]d2 DataMatrix).
_SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9]")


class ScannerStatus(StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"


def strip_symbology(code: str) -> str:
    return _SYMBOLOGY.sub("", code, count=1)
