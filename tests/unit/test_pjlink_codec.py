"""PJLink codec against bytes from the specification (JBMIA PJLink class 1 v1.04, class 2 v2.00)."""

import pytest

from drivers.capabilities import AVMute, ErrorStatus, Lamp, Level, Power
from drivers.errors import AuthFailed, InvalidCommand, ProtocolError
from drivers.projector import pjlink
from drivers.transports.framing import LineFramer


def frames_of(wire: bytes, chunk: int | None) -> list[bytes]:
    framer = LineFramer(b"\r")
    pieces = [wire] if chunk is None else [wire[i:i + chunk] for i in range(len(wire))]
    return [f for p in pieces for f in framer.feed(p)]


REPLIES = [
    (b"%1POWR=OK\r", pjlink.Reply("POWR", "OK", 1)),
    (b"%1POWR=1\r", pjlink.Reply("POWR", "1", 1)),
    (b"%1POWR=ERR3\r", pjlink.Reply("POWR", "ERR3", 1)),
    (b"%1INPT=31\r", pjlink.Reply("INPT", "31", 1)),
    (b"%2INST=11 12 31 32 3A 51\r", pjlink.Reply("INST", "11 12 31 32 3A 51", 2)),
    (b"%1LAMP=1500 1\r", pjlink.Reply("LAMP", "1500 1", 1)),
    (b"%1ERST=000010\r", pjlink.Reply("ERST", "000010", 1)),
    (b"%1NAME=\r", pjlink.Reply("NAME", "", 1)),
    (b"%2SNUM=ABC123456\r", pjlink.Reply("SNUM", "ABC123456", 2)),
]


@pytest.mark.parametrize("wire, expected", REPLIES)
@pytest.mark.parametrize("chunk", [None, 1])
def test_reply_is_parsed_from_any_chunking(wire, expected, chunk):
    assert [pjlink.parse_reply(f) for f in frames_of(wire, chunk)] == [expected]


@pytest.mark.parametrize("wire", [b"%1POWR=ERR1\r", b"%1POWR=ERR2\r", b"%1POWR=ERR3\r", b"%1POWR=ERR4\r"])
def test_error_replies_carry_their_code(wire):
    reply = pjlink.parse_reply(frames_of(wire, None)[0])
    assert reply.error == wire[7:11].decode()


GREETINGS = [
    (b"PJLINK 0\r", pjlink.Greeting(None)),
    (b"PJLINK 1 498e4a67\r", pjlink.Greeting("498e4a67")),
]


@pytest.mark.parametrize("wire, expected", GREETINGS)
@pytest.mark.parametrize("chunk", [None, 1])
def test_greeting(wire, expected, chunk):
    assert [pjlink.parse_greeting(f) for f in frames_of(wire, chunk)] == [expected]


def test_wrong_password_answer_is_auth_failed():
    with pytest.raises(AuthFailed):
        pjlink.parse_greeting(b"PJLINK ERRA")
    with pytest.raises(AuthFailed):
        pjlink.parse_reply(b"PJLINK ERRA")


def test_authentication_digest_is_the_specifications_example():
    # PJLink class 1 specification §5.1: random 498e4a67, password JBMIAProjectorLink.
    assert pjlink.auth_digest("498e4a67", "JBMIAProjectorLink") == "5d8409bc1c3fa39749434aa3a5c38682"


ENCODED = [
    (pjlink.Request("POWR", "1"), "", b"%1POWR 1\r"),
    (pjlink.Request("POWR", "?"), "", b"%1POWR ?\r"),
    (pjlink.Request("INPT", "31"), "", b"%1INPT 31\r"),
    (pjlink.Request("AVMT", "31"), "", b"%1AVMT 31\r"),
    (pjlink.Request("INST", "?", 2), "", b"%2INST ?\r"),
    (pjlink.Request("POWR", "?"), "5d8409bc1c3fa39749434aa3a5c38682", b"5d8409bc1c3fa39749434aa3a5c38682%1POWR ?\r"),
]


@pytest.mark.parametrize("request_, digest, wire", ENCODED)
def test_commands_encode_to_the_specifications_bytes(request_, digest, wire):
    assert pjlink.encode(request_, digest=digest) == wire


@pytest.mark.parametrize("body, param", [("POW", "1"), ("POWR", ""), ("POWR", "1\r%1POWR 0"), ("powr", "1")])
def test_nothing_raw_can_be_encoded(body, param):
    with pytest.raises(InvalidCommand):
        pjlink.Request(body, param)


VALUES = [
    (pjlink.parse_power, "0", Power.OFF),
    (pjlink.parse_power, "1", Power.ON),
    (pjlink.parse_power, "2", Power.COOLING_DOWN),
    (pjlink.parse_power, "3", Power.WARMING_UP),
    (pjlink.parse_av_mute, "30", AVMute(video=False, audio=False)),
    (pjlink.parse_av_mute, "11", AVMute(video=True, audio=False)),
    (pjlink.parse_av_mute, "21", AVMute(video=False, audio=True)),
    (pjlink.parse_av_mute, "31", AVMute(video=True, audio=True)),
    (pjlink.parse_error_status, "000010", ErrorStatus(filter=Level.WARNING)),
    (pjlink.parse_error_status, "020000", ErrorStatus(lamp=Level.ERROR)),
    (pjlink.parse_error_status, "100200", ErrorStatus(fan=Level.WARNING, cover=Level.ERROR)),
    (pjlink.parse_lamps, "1500 1", (Lamp(hours=1500, on=True),)),
    (pjlink.parse_lamps, "1500 1 200 0", (Lamp(hours=1500, on=True), Lamp(hours=200, on=False))),
    (pjlink.parse_inputs, "11 12 31 3A 51", ("rgb1", "rgb2", "digital1", "digitala", "network1")),
    (pjlink.input_name, "31", "digital1"),
    (pjlink.input_name, "61", "internal1"),
    (pjlink.input_code, "digital1", "31"),
    (pjlink.input_code, "storagez", "4Z"),
]


@pytest.mark.parametrize("parse, value, expected", VALUES)
def test_values_become_typed_state(parse, value, expected):
    assert parse(value) == expected


GARBAGE = [
    (pjlink.parse_reply, b"%1POWR"),
    (pjlink.parse_reply, b"POWR=1"),
    (pjlink.parse_reply, b"%3POWR=1"),
    (pjlink.parse_reply, b"%1POWR=\xff"),
    (pjlink.parse_greeting, b"HELLO"),
]


@pytest.mark.parametrize("parse, frame", GARBAGE)
def test_garbled_frames_are_protocol_errors(parse, frame):
    with pytest.raises(ProtocolError):
        parse(frame)


@pytest.mark.parametrize("parse, value", [
    (pjlink.parse_power, "4"),
    (pjlink.parse_error_status, "00001"),
    (pjlink.parse_error_status, "000013"),
    (pjlink.parse_lamps, "1500"),
    (pjlink.parse_lamps, "abc 1"),
    (pjlink.parse_av_mute, "41"),
    (pjlink.input_name, "71"),
    (pjlink.input_name, "30"),
])
def test_out_of_range_values_are_protocol_errors(parse, value):
    with pytest.raises(ProtocolError):
        parse(value)


def test_search_answers():
    assert pjlink.parse_search_answer(b"%2ACKN=00:11:22:AA:bb:cc\r") == "00:11:22:aa:bb:cc"
    assert pjlink.parse_search_answer(b"%2LKUP=00:11:22:33:44:55\r") == "00:11:22:33:44:55"
    assert pjlink.parse_search_answer(b"%2ACKN=nonsense\r") is None
