"""The X32/X-Air codec: OSC bytes from Maillot's protocol document and Behringer's X AIR
document, the consoles' fader law at its breakpoints, and meter blobs."""

import struct

import pytest

from drivers.audio.malformed import Malformed
from drivers.audio.mixer import (
    FADER_STEPS,
    X32,
    XAIR,
    OscReply,
    decode,
    encode_query,
    encode_set,
    fader_db,
    fader_position,
    parse_meters,
    quantise_position,
)
from drivers.errors import InvalidCommand, ProtocolError

# "~" in the documents stands for a null byte; strings and type tags pad to 4 bytes.
REPLIES = [
    (b"/xinfo\0\0,ssss\0\0\x00192.168.1.62\0\0\0\0X32-02-4A-53\0\0\0\0X32\x003.04\0\0\0\0",
     OscReply("/xinfo", ("192.168.1.62", "X32-02-4A-53", "X32", "3.04"))),
    (b"/status\0,sss\0\0\0\0active\0\x00192.168.0.64\0\0\0\0osc-server\0\0",
     OscReply("/status", ("active", "192.168.0.64", "osc-server"))),
    (b"/ch/01/mix/fader\0\0\0\0,f\0\0" + struct.pack(">f", 0.8250),
     OscReply("/ch/01/mix/fader", (pytest.approx(0.825),))),
    (b"/ch/01/mix/on\0\0\0,i\0\0" + struct.pack(">i", 0), OscReply("/ch/01/mix/on", (0,))),
    (b"/bus/05/mix/on\0\0,i\0\0" + struct.pack(">i", 1), OscReply("/bus/05/mix/on", (1,))),
]


@pytest.mark.parametrize("wire, reply", REPLIES)
def test_replies_from_the_documents_decode(wire, reply):
    assert decode(wire) == reply


def test_a_query_is_the_address_with_an_empty_type_tag():
    # Maillot: "/ch/01/mix/fader~~~~,~~~"
    assert encode_query("/ch/01/mix/fader") == b"/ch/01/mix/fader\0\0\0\0,\0\0\0"
    assert encode_query("/xremote") == b"/xremote\0\0\0\0,\0\0\0"


def test_sets_carry_big_endian_arguments():
    assert encode_set("/ch/01/mix/fader", 0.75, types="f") == b"/ch/01/mix/fader\0\0\0\0,f\0\0" + struct.pack(">f", 0.75)
    assert encode_set("/ch/01/mix/on", 0, types="i") == b"/ch/01/mix/on\0\0\0,i\0\0\0\0\0\0"
    # X AIR document: /meters ,si "/meters/0" 8 starts 2f 6d 65 74 65 72 73 00 2c 73 69 00 2f 6d 65 74
    assert encode_set("/meters", "/meters/0", 8, types="si")[:16] == bytes.fromhex("2f6d657465727300 2c7369002f6d6574")


# Position -> dB at the law's breakpoints: f·40−30 from 0.5, f·80−50 from 0.25,
# f·160−70 from 0.0625, f·480−90 above 0, -inf at 0.
LAW = [(1.0, 10.0), (0.75, 0.0), (0.5, -10.0), (0.25, -30.0), (0.0625, -60.0), (0.03125, -75.0), (0.0, "-inf")]


@pytest.mark.parametrize("position, db", LAW)
def test_fader_law_at_its_breakpoints(position, db):
    assert fader_db(position) == db


# The consoles keep 1024 steps (step/1023); a dB value round-trips through the step it lands on.
STEPS = [(1023, 10.0), (767, -0.01), (512, -9.98), (511, -10.04), (256, -29.98), (64, -59.99), (1, -89.53), (0, "-inf")]


@pytest.mark.parametrize("step, db", STEPS)
def test_fader_steps_and_their_db(step, db):
    position = step / (FADER_STEPS - 1)
    assert fader_db(position) == db
    assert quantise_position(fader_position(db)) == pytest.approx(position)


@pytest.mark.parametrize("db", [10.5, -91, float("nan")])
def test_faders_outside_the_law_are_refused(db):
    with pytest.raises(InvalidCommand):
        fader_position(db)


def test_fader_positions_outside_0_1_from_the_network_are_malformed():
    with pytest.raises(Malformed):
        fader_db(1.5)


def _xair_blob(values_db):
    raw = [round(v * 256) for v in values_db]
    return struct.pack(f"<i{len(raw)}h", len(raw), *raw)


def _x32_blob(linear):
    return struct.pack(f"<i{len(linear)}f", len(linear), *linear)


def test_xair_meters_are_int16_in_256ths_of_a_db():
    levels = parse_meters(_xair_blob([-20.0, -6.5, 0.0] + [-128.0] * 37), XAIR.meters)
    assert levels[:3] == [-20.0, -6.5, 0.0] and len(levels) == 40


def test_x32_meters_are_linear_floats():
    levels = parse_meters(_x32_blob([1.0, 0.1, 0.0] + [0.0] * 93), X32.meters)
    assert levels[:3] == [0.0, -20.0, -128.0] and len(levels) == 96


@pytest.mark.parametrize("blob, family, kind", [
    (b"\x28\x00", XAIR, "blob size"),                                            # no room for the count
    (_xair_blob([-20.0] * 40)[:-2], XAIR, "blob size"),                           # a value cut off
    (struct.pack("<i", 40) + b"\0" * 10, XAIR, "blob size"),                      # fewer values than counted
    (_xair_blob([-20.0] * 16), XAIR, "meter count"),                              # well formed, wrong bank
    (_x32_blob([0.5] * 96) + b"\0\0\0\0", X32, "blob size"),                      # trailing bytes
    (struct.pack("<i", -1), X32, "blob size"),                                    # a negative count
])
def test_meter_blobs_of_the_wrong_size_are_malformed(blob, family, kind):
    with pytest.raises(Malformed) as bad:
        parse_meters(blob, family.meters)
    assert bad.value.kind == kind


@pytest.mark.parametrize("datagram, kind", [
    (b"#bundle\0" + b"\0" * 8, "bundle"),
    (b"hello", "not osc"),
    (b"/ch/01/mix/fader\0\0\0\0,f\0\0\x3f", "bad osc"),       # a float cut short
    (b"/ch/01/mix/fader\0\0\0\0,s\0\0abc", "bad osc"),       # a string without its null
    (b"", "not osc"),
])
def test_malformed_packets_raise_a_typed_error_with_their_kind(datagram, kind):
    with pytest.raises(ProtocolError) as bad:
        decode(datagram)
    assert bad.value.kind == kind


def test_family_differences_are_data():
    assert (X32.port, XAIR.port) == (10023, 10024)
    assert (X32.main_fader, XAIR.main_fader) == ("/main/st/mix/fader", "/lr/mix/fader")
    assert (X32.phantom_path(1), XAIR.phantom_path(1)) == ("/headamp/000/phantom", "/headamp/01/phantom")
    assert (X32.scene_load, XAIR.scene_load) == ("/-action/goscene", "/-snap/load")
