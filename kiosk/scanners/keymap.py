"""The keyboard-wedge decoder: evdev key events in, scanned codes out. No I/O.

A USB scanner in keyboard mode types its code as key presses. Codes are Linux input
event codes (``linux/input-event-codes.h``); the layout is US unless another keymap is
given. A code ends on the scanner's suffix key, Enter or Tab — never on timing, since
a busy host may deliver a code's events in bursts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.scanners import MAX_CODE

EV_SYN, EV_KEY, EV_MSC = 0x00, 0x01, 0x04
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2

KEY_TAB, KEY_ENTER, KEY_KPENTER = 15, 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK = 42, 54, 58
SHIFT_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
END_KEYS = frozenset({KEY_ENTER, KEY_KPENTER, KEY_TAB})

# (unshifted, shifted) by key code, US layout.
US: dict[int, tuple[str, str]] = {
    2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"), 7: ("6", "^"),
    8: ("7", "&"), 9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"), 12: ("-", "_"), 13: ("=", "+"),
    16: ("q", "Q"), 17: ("w", "W"), 18: ("e", "E"), 19: ("r", "R"), 20: ("t", "T"), 21: ("y", "Y"),
    22: ("u", "U"), 23: ("i", "I"), 24: ("o", "O"), 25: ("p", "P"), 26: ("[", "{"), 27: ("]", "}"),
    30: ("a", "A"), 31: ("s", "S"), 32: ("d", "D"), 33: ("f", "F"), 34: ("g", "G"), 35: ("h", "H"),
    36: ("j", "J"), 37: ("k", "K"), 38: ("l", "L"), 39: (";", ":"), 40: ("'", '"'), 41: ("`", "~"),
    43: ("\\", "|"), 44: ("z", "Z"), 45: ("x", "X"), 46: ("c", "C"), 47: ("v", "V"), 48: ("b", "B"),
    49: ("n", "N"), 50: ("m", "M"), 51: (",", "<"), 52: (".", ">"), 53: ("/", "?"), 57: (" ", " "),
    # keypad: scanners configured for "keypad digits" type these
    55: ("*", "*"), 71: ("7", "7"), 72: ("8", "8"), 73: ("9", "9"), 74: ("-", "-"), 75: ("4", "4"),
    76: ("5", "5"), 77: ("6", "6"), 78: ("+", "+"), 79: ("1", "1"), 80: ("2", "2"), 81: ("3", "3"),
    82: ("0", "0"), 83: (".", "."), 98: ("/", "/"),
}


@dataclass
class KeyDecoder:
    """Feed (type, code, value) events one at a time; whole codes come out."""

    keymap: dict[int, tuple[str, str]] = field(default_factory=lambda: US)
    max_code: int = MAX_CODE
    _shift: set[int] = field(default_factory=set)
    _caps: bool = False
    _buffer: list[str] = field(default_factory=list)
    overflowed: int = 0  # codes cut at max_code

    def feed(self, type_: int, code: int, value: int) -> list[str]:
        if type_ != EV_KEY:
            return []  # EV_SYN / EV_MSC (the scancode) carry nothing we need
        if code in SHIFT_KEYS:
            (self._shift.add if value != KEY_UP else self._shift.discard)(code)
            return []
        # A repeat is a key held down: scanners don't hold keys, so it is noise, not input.
        if value != KEY_DOWN:
            return []
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return []
        if code in END_KEYS:
            text, self._buffer = "".join(self._buffer), []
            return [text] if text else []
        chars = self.keymap.get(code)
        if chars is None:
            return []  # function keys, Ctrl, Alt: not part of any code
        shifted = bool(self._shift)
        if self._caps and chars[0].isalpha():
            shifted = not shifted
        if len(self._buffer) < self.max_code:
            self._buffer.append(chars[1] if shifted else chars[0])
        elif len(self._buffer) == self.max_code:
            self._buffer.append("…")  # one mark that the code was cut: it can never be a badge
            self.overflowed += 1
        return []

    def feed_all(self, events) -> list[str]:
        return [text for event in events for text in self.feed(*event)]

    @property
    def pending(self) -> str:
        return "".join(self._buffer)
