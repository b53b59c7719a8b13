"""ESC/VP21 codec against byte tables from the specification (shared/protocols/escvp21.md).

The expected bytes are written out by hand from the spec, never produced by our encoder.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drivers.capabilities import ErrorStatus, Level, Power
from drivers.errors import InvalidCommand, ProtocolError
from drivers.projector.escvp21 import (
    Accepted,
    ErrorReply,
    EscVp21Options,
    LampReply,
    MuteCommand,
    MuteReply,
    NullCommand,
    PowerCommand,
    PowerReply,
    PromptFramer,
    Query,
    QueryCommand,
    Refused,
    SourceCommand,
    SourceReply,
    answers,
    encode,
    parse_frame,
)

COMMANDS = [
    (NullCommand(), b"\r"),  # "\r alone gets a bare ':' — a cheap link check"
    (QueryCommand(Query.POWER), b"PWR?\r"),
    (QueryCommand(Query.SOURCE), b"SOURCE?\r"),
    (QueryCommand(Query.MUTE), b"MUTE?\r"),
    (QueryCommand(Query.LAMP), b"LAMP?\r"),
    (QueryCommand(Query.ERROR), b"ERR?\r"),
    (PowerCommand(on=True), b"PWR ON\r"),
    (PowerCommand(on=False), b"PWR OFF\r"),
    (SourceCommand("30"), b"SOURCE 30\r"),  # HDMI 1
    (SourceCommand("A0"), b"SOURCE A0\r"),  # HDMI 2
    (SourceCommand("10"), b"SOURCE 10\r"),  # computer 1
    (MuteCommand(on=True), b"MUTE ON\r"),
    (MuteCommand(on=False), b"MUTE OFF\r"),
]

REPLIES = [
    (b":", Accepted()),
    (b"ERR\r:", Refused()),
    (b"PWR=00\r:", PowerReply(state=Power.OFF, code="00")),  # standby, network off
    (b"PWR=01\r:", PowerReply(state=Power.ON, code="01")),  # lamp on
    (b"PWR=02\r:", PowerReply(state=Power.WARMING_UP, code="02")),
    (b"PWR=03\r:", PowerReply(state=Power.COOLING_DOWN, code="03")),
    (b"PWR=04\r:", PowerReply(state=Power.OFF, code="04")),  # standby, network on
    (b"PWR=05\r:", PowerReply(state=Power.ABNORMAL_STANDBY, code="05")),
    (b"PWR=09\r:", PowerReply(state=Power.OFF, code="09")),  # A/V standby
    (b"LAMP=1234\r:", LampReply(hours=1234)),
    (b"LAMP=0\r:", LampReply(hours=0)),
    (b"SOURCE=30\r:", SourceReply(code="30")),
    (b"SOURCE=A0\r:", SourceReply(code="A0")),
    (b"MUTE=ON\r:", MuteReply(on=True)),
    (b"MUTE=OFF\r:", MuteReply(on=False)),
    (b"ERR=00\r:", ErrorReply(code="00")),
    (b"ERR=04\r:", ErrorReply(code="04")),
    (b"ERR=0D\r:", ErrorReply(code="0D")),
]

ERROR_CODES = [  # ERR? code → component health
    ("00", ErrorStatus()),
    ("01", ErrorStatus(fan=Level.ERROR)),
    ("03", ErrorStatus(lamp=Level.ERROR)),  # lamp failure at power on
    ("04", ErrorStatus(temperature=Level.ERROR)),
    ("06", ErrorStatus(lamp=Level.ERROR)),
    ("07", ErrorStatus(cover=Level.ERROR)),
    ("0B", ErrorStatus(other=Level.ERROR)),  # subsystem
    ("0C", ErrorStatus(filter=Level.WARNING)),  # low air flow
    ("0D", ErrorStatus(filter=Level.WARNING)),  # air filter sensor
    ("0E", ErrorStatus(other=Level.ERROR)),  # power supply
]

GARBAGE = [
    b"PWR=1\r:",  # one digit
    b"PWR=XY\r:",
    b"LAMP=12a4\r:",
    b"LAMP=\r:",
    b"MUTE=MAYBE\r:",
    b"SOURCE=3\r:",
    b"ERR=4\r:",
    b"pwr=01\r:",
    b"HELLO\r:",
    b"VOL=100\r:",  # well formed, but nothing this driver asks for
    b"\r:",  # an empty line before the prompt
    b"\n\r\x08gjkW\r:",  # "PWR=01\r" garbled by line noise
    b"PWR=01\rLAMP=12\r:",  # two result lines for one request
    b"ERR=0:\r:",  # a colon inside a line is text, not the prompt
]


def chunked(wire: bytes, size: int | None) -> list[bytes]:
    return [wire] if size is None else [wire[i : i + size] for i in range(0, len(wire), size)]


def frames_of(wire: bytes, chunk: int | None) -> list[list[bytes]]:
    framer = PromptFramer()
    return [frame for piece in chunked(wire, chunk) for frame in framer.feed(piece)]


@pytest.mark.parametrize("command, wire", COMMANDS)
def test_command_is_encoded_as_the_spec_writes_it(command, wire):
    assert encode(command) == wire


@pytest.mark.parametrize("wire, expected", REPLIES)
@pytest.mark.parametrize("chunk", [None, 1])  # whole, then one byte at a time
def test_reply_is_parsed_from_any_chunking(wire, expected, chunk):
    assert [parse_frame(frame) for frame in frames_of(wire, chunk)] == [expected]


@pytest.mark.parametrize("code, status", ERROR_CODES)
def test_error_code_names_the_failing_component(code, status):
    (frame,) = frames_of(b"ERR=" + code.encode() + b"\r:", None)
    assert parse_frame(frame).status == status


@pytest.mark.parametrize("chunk", [None, 1])
def test_a_poll_worth_of_replies_in_one_stream_gives_one_frame_each(chunk):
    wire = b"PWR=01\r:SOURCE=A0\r:MUTE=OFF\r:LAMP=1234\r:ERR=00\r::"
    frames = frames_of(wire, chunk)
    assert frames == [[b"PWR=01"], [b"SOURCE=A0"], [b"MUTE=OFF"], [b"LAMP=1234"], [b"ERR=00"], []]


def test_a_colon_inside_a_line_is_not_the_prompt():
    assert frames_of(b"AB:C\r:", None) == [[b"AB:C"]]


def test_a_frame_is_held_until_its_prompt_arrives():
    framer = PromptFramer()
    assert framer.feed(b"PWR=01\r") == []
    assert framer.pending == b"PWR=01\r"
    assert framer.feed(b":") == [[b"PWR=01"]]
    assert framer.pending == b""


@pytest.mark.parametrize("wire", GARBAGE)
@pytest.mark.parametrize("chunk", [None, 1])
def test_garbage_is_a_protocol_error(wire, chunk):
    (frame,) = frames_of(wire, chunk)
    with pytest.raises(ProtocolError):
        parse_frame(frame)


@pytest.mark.parametrize("chunk", [None, 1, 100])
def test_a_peer_that_never_prompts_cannot_fill_memory(chunk):
    framer = PromptFramer()
    flood = b"PWR=01\r" * 200  # 1400 bytes, no prompt
    with pytest.raises(ProtocolError):
        for piece in chunked(flood, chunk):
            framer.feed(piece)
    # The framer starts clean after the error.
    assert framer.feed(b"PWR=04\r:") == [[b"PWR=04"]]


def test_a_late_reply_is_not_taken_for_the_answer_to_the_next_request():
    assert answers(QueryCommand(Query.POWER), PowerReply(state=Power.ON, code="01"))
    assert answers(QueryCommand(Query.POWER), Refused())
    assert not answers(QueryCommand(Query.POWER), LampReply(hours=3))  # answer to an earlier LAMP?
    assert not answers(QueryCommand(Query.POWER), Accepted())  # prompt of an earlier set command
    assert answers(PowerCommand(on=True), Accepted())
    assert answers(PowerCommand(on=True), Refused())
    assert not answers(PowerCommand(on=True), PowerReply(state=Power.ON, code="01"))


@pytest.mark.parametrize("code", ["3", "3G", "a0", "300", ""])
def test_a_source_code_outside_the_spec_form_is_refused_before_encoding(code):
    with pytest.raises(InvalidCommand):
        SourceCommand(code)


def test_options_refuse_two_inputs_on_one_code_and_unknown_keys():
    assert EscVp21Options(inputs={"hdmi1": "30", "sdi": "B0"}).inputs == {"hdmi1": "30", "sdi": "B0"}
    with pytest.raises(ValidationError):
        EscVp21Options(inputs={"hdmi1": "30", "hdmi": "30"})
    with pytest.raises(ValidationError):
        EscVp21Options(inputs={"HDMI 1": "30"})
    with pytest.raises(ValidationError):
        EscVp21Options(busy_retry=5)
