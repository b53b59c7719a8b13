import pytest

from drivers.errors import ProtocolError
from drivers.transports.framing import LineFramer

STREAM = b"PJLINK 0\r%1POWR=OK\r%1LAMP=1500 1\r"
FRAMES = [b"PJLINK 0", b"%1POWR=OK", b"%1LAMP=1500 1"]


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7])
def test_frames_come_out_whole_whatever_the_chunking(chunk):
    framer = LineFramer(b"\r")
    pieces = [STREAM] if chunk is None else [STREAM[i:i + chunk] for i in range(0, len(STREAM), chunk)]
    assert [f for p in pieces for f in framer.feed(p)] == FRAMES


def test_unfinished_frame_waits_for_its_end():
    framer = LineFramer(b"\r")
    assert framer.feed(b"%1POWR=") == []
    assert framer.pending == b"%1POWR="
    assert framer.feed(b"1\r") == [b"%1POWR=1"]


def test_a_peer_that_never_ends_a_frame_is_refused_not_buffered():
    framer = LineFramer(b"\r", max_frame=64)
    with pytest.raises(ProtocolError):
        framer.feed(b"x" * 65)
    assert framer.pending == b""  # and the framer is usable again
    assert framer.feed(b"ok\r") == [b"ok"]


def test_multi_byte_terminator():
    framer = LineFramer(b"\r\n")
    assert framer.feed(b"a\r") == []
    assert framer.feed(b"\nb\r\n") == [b"a", b"b"]
