"""Scanners: the keyboard-wedge decoder on recorded evdev sequences, the evdev reader with a
recorded device (the only mock: these machines have no /dev/input), and the serial reader
on a real pseudo-terminal driven by the scanner simulator."""

from __future__ import annotations

import asyncio
import errno
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import wait_until
from kiosk.scanners import MAX_CODE, ScannerStatus, strip_symbology
from kiosk.scanners.hid import HidScanner
from kiosk.scanners.keymap import KeyDecoder
from kiosk.scanners.serial import SerialScanner
from simulators.scanner import ScannerSimulator

FIXTURES = Path(__file__).parent / "fixtures"
RECORDINGS = sorted(FIXTURES.glob("evdev_*.json"))
WITHIN = 5.0  # a pty delivers in microseconds; this only bounds a broken test


def load(path: Path) -> tuple[list[tuple[int, int, int]], list[str]]:
    data = json.loads(path.read_text())
    return [(t, c, v) for _, t, c, v in data["events"]], data["expect"]


# --- the decoder ------------------------------------------------------------------------


@pytest.mark.parametrize("recording", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_recorded_key_events_decode_to_the_scanned_codes(recording):
    events, expected = load(recording)
    decoder = KeyDecoder()
    codes = [code for event in events for code in decoder.feed(*event)]  # one event at a time, as evdev delivers
    assert codes == expected
    assert decoder.pending == ""


def test_a_code_is_ended_by_its_suffix_key_never_by_a_pause():
    events, _ = load(FIXTURES / "evdev_two_codes_right_shift.json")
    decoder = KeyDecoder()
    half = len(events) // 3
    assert decoder.feed_all(events[:half]) == []  # a busy host delivers the rest later: still one code
    assert decoder.pending
    assert decoder.feed_all(events[half:]) == ["abcXYZ", "Q2W3"]


def test_a_runaway_scanner_is_cut_at_the_code_limit():
    decoder = KeyDecoder()
    press = [(1, 30, 1), (1, 30, 0)] * (MAX_CODE + 500)  # "a" thousands of times, then Enter
    (code,) = decoder.feed_all(press + [(1, 28, 1), (1, 28, 0)])
    assert len(code) == MAX_CODE + 1 and code.endswith("…")
    assert decoder.overflowed == 1


SYMBOLOGY = [("]Q1AEAQ", "AEAQ"), ("]C1123", "123"), ("]d2XY", "XY"), ("AEAQ", "AEAQ"), ("]]Q1", "]]Q1"), ("", "")]


@pytest.mark.parametrize("scanned, code", SYMBOLOGY)
def test_symbology_identifiers_are_stripped(scanned, code):
    assert strip_symbology(scanned) == code


# --- the evdev reader, with a recorded device ----------------------------------------------


class RecordedDevice:
    """Stands in for evdev.InputDevice: plays a recording, then is unplugged (ENODEV)."""

    def __init__(self, events, path: Path) -> None:
        self.events = events
        self.path = path
        self.grabbed = False
        self.closed = False

    def grab(self) -> None:
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def close(self) -> None:
        self.closed = True

    async def async_read_loop(self):
        for type_, code, value in self.events:
            yield SimpleNamespace(type=type_, code=code, value=value)
            await asyncio.sleep(0)
        self.path.unlink()  # the cable is pulled: the by-id link goes, reads fail with ENODEV
        raise OSError(errno.ENODEV, "No such device")


async def test_the_usb_scanner_is_grabbed_read_and_found_again_after_replugging(tmp_path):
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    name = "usb-Honeywell_Imaging_Mobility_1900-event-kbd"
    events, expected = load(FIXTURES / "evdev_honeywell_qr_symbology_enter.json")
    devices: list[RecordedDevice] = []

    def opener(path: str) -> RecordedDevice:
        devices.append(RecordedDevice(events, Path(path)))
        return devices[-1]

    codes: list[tuple[str, str]] = []
    scanner = HidScanner("front", name, lambda code, sid: codes.append((code, sid)), by_id=by_id, opener=opener,
                         rediscover_interval=0.01)
    scanner.start()
    try:
        await wait_until(lambda: scanner.reason == f"{by_id / name} not present", within=WITHIN, what="scanner missing")
        (by_id / name).touch()  # plugged in
        await wait_until(lambda: len(codes) == 1, within=WITHIN, what="first code")
        assert codes[0] == (strip_symbology(expected[0]), "front")
        assert devices[0].grabbed or devices[0].closed
        await wait_until(lambda: scanner.status is ScannerStatus.OFFLINE and scanner.reason == "unplugged",
                         within=WITHIN, what="unplugged")
        assert devices[0].closed and not devices[0].grabbed
        (by_id / name).touch()  # plugged back
        await wait_until(lambda: len(codes) == 2, within=WITHIN, what="code after replugging")
        assert scanner.connects == 2
    finally:
        await scanner.stop()


# --- the serial reader, on a real pty ------------------------------------------------------


@pytest.fixture
async def serial_scanner():
    sim = ScannerSimulator(suffix="crlf", symbology=True)
    await sim.start()
    codes: list[str] = []
    reader = SerialScanner("desk", sim.address, lambda code, sid: codes.append(code), reopen_interval=0.05)
    reader.start()
    await wait_until(lambda: reader.status is ScannerStatus.ONLINE, within=WITHIN, what="serial scanner open")
    yield sim, reader, codes
    await reader.stop()
    await sim.stop()


async def test_serial_scanner_codes_arrive_with_cr_lf_and_identifier_stripped(serial_scanner):
    sim, reader, codes = serial_scanner
    await sim.scan("AEAQAB7ZLI6WYMNV")
    await sim.scan("20240601")
    await wait_until(lambda: len(codes) == 2, within=WITHIN, what="two codes")
    assert codes == ["AEAQAB7ZLI6WYMNV", "20240601"]


async def test_kilobytes_of_line_noise_become_one_unreadable_code_and_reading_goes_on(serial_scanner):
    sim, reader, codes = serial_scanner
    await sim.garbage(5000)
    await sim.scan("GOODCODE")
    await wait_until(lambda: codes and codes[-1] == "GOODCODE", within=WITHIN, what="the good code after noise")
    assert len(codes) == 2
    assert len(codes[0]) > MAX_CODE  # refused later as far too long for a badge
    assert reader.garbage == 1


LINES = [
    (b"ABC\r", ["ABC"]),
    (b"ABC\r\nDEF\r\n", ["ABC", "DEF"]),
    (b"]Q1ABC\r", ["ABC"]),
    (b"\r\n\r\nABC\r", ["ABC"]),
    (b"AB\xffC\r", ["AB\ufffdC"]),  # not ASCII: shown as unreadable, refused as a code
]


@pytest.mark.parametrize("wire, expected", LINES)
@pytest.mark.parametrize("chunk", [None, 1])
def test_serial_lines_are_framed_from_any_chunking(wire, expected, chunk):
    codes: list[str] = []
    reader = SerialScanner("desk", "loop://", lambda code, sid: codes.append(code))
    pieces = [wire] if chunk is None else [wire[i:i + 1] for i in range(len(wire))]
    for piece in pieces:
        reader.feed(piece)
    assert codes == expected


async def test_a_scanner_whose_port_is_missing_is_offline_and_retried(tmp_path):
    reader = SerialScanner("desk", str(tmp_path / "ttyACM9"), lambda code, sid: None, reopen_interval=0.05)
    reader.start()
    try:
        await wait_until(lambda: reader.status is ScannerStatus.OFFLINE, within=WITHIN, what="offline")
        assert "ttyACM9" in reader.reason
    finally:
        await reader.stop()
