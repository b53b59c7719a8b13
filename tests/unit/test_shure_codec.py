"""The Shure command-strings codec, on bytes from Shure's ULX-D command strings document.

Value formats and sentinels as the document states them: BATT_BARS 000-005 with 255
unknown; BATT_CHARGE percent with 255 unknown; BATT_RUN_TIME minutes with 65533
(battery communication error), 65534 (calculating) and 65535 (unknown); AUDIO_GAIN
000-060 = value - 18 dB; RX_RF_LVL dBm = value - 128; AUDIO_LVL dBFS = value - 50;
RF_ANTENNA AX, XB, AB, XX; SAMPLE x ALL nn aaa eee; METER_RATE 5 digits of ms.
"""

import logging

import pytest
from pydantic import ValidationError

from drivers.audio.malformed import Malformed, MalformedLog
from drivers.audio.shure import (
    Report,
    ReportError,
    Sample,
    ShureFramer,
    ShureOptions,
    channels_of_model,
    encode_get,
    encode_set,
    gain_value,
    meter_rate_value,
    parse_antenna,
    parse_audio_level,
    parse_battery_bars,
    parse_battery_percent,
    parse_battery_runtime,
    parse_battery_type,
    parse_braced,
    parse_frame,
    parse_frequency,
    parse_gain,
    parse_interference,
    parse_meter_rate,
    parse_rf_level,
    parse_transmitter,
)
from drivers.capabilities import Antenna, BatteryType, RuntimeState, Transmitter
from drivers.errors import InvalidCommand, ProtocolError

# (wire, parsed message, typed value of the report)
MESSAGES = [
    (b"< REP 1 BATT_BARS 004 >", Report(1, "BATT_BARS", "004"), (parse_battery_bars, 4)),
    (b"< REP 2 BATT_BARS 255 >", Report(2, "BATT_BARS", "255"), (parse_battery_bars, "unknown")),
    (b"< REP 1 BATT_CHARGE 071 >", Report(1, "BATT_CHARGE", "071"), (parse_battery_percent, 71)),
    (b"< REP 1 BATT_CHARGE 255 >", Report(1, "BATT_CHARGE", "255"), (parse_battery_percent, "unknown")),
    (b"< REP 1 BATT_RUN_TIME 00312 >", Report(1, "BATT_RUN_TIME", "00312"), (parse_battery_runtime, 312)),
    (b"< REP 1 BATT_RUN_TIME 65535 >", Report(1, "BATT_RUN_TIME", "65535"),
     (parse_battery_runtime, RuntimeState.UNKNOWN)),
    (b"< REP 1 BATT_RUN_TIME 65534 >", Report(1, "BATT_RUN_TIME", "65534"),
     (parse_battery_runtime, RuntimeState.CALCULATING)),
    (b"< REP 1 BATT_RUN_TIME 65533 >", Report(1, "BATT_RUN_TIME", "65533"),
     (parse_battery_runtime, RuntimeState.COMM_ERROR)),
    (b"< REP 1 BATT_TYPE LION >", Report(1, "BATT_TYPE", "LION"), (parse_battery_type, BatteryType.LITHIUM_ION)),
    (b"< REP 3 BATT_TYPE ALKA >", Report(3, "BATT_TYPE", "ALKA"), (parse_battery_type, BatteryType.ALKALINE)),
    (b"< REP 1 TX_TYPE ULXD2 >", Report(1, "TX_TYPE", "ULXD2"),
     (parse_transmitter, Transmitter(present=True, model="ULXD2"))),
    (b"< REP 1 TX_TYPE UNKN >", Report(1, "TX_TYPE", "UNKN"), (parse_transmitter, Transmitter(present=False))),
    (b"< REP 1 AUDIO_GAIN 040 >", Report(1, "AUDIO_GAIN", "040"), (parse_gain, 22)),
    (b"< REP 4 AUDIO_GAIN 000 >", Report(4, "AUDIO_GAIN", "000"), (parse_gain, -18)),
    (b"< REP 1 CHAN_NAME {Lead Vox                       } >",
     Report(1, "CHAN_NAME", "{Lead Vox                       }"), (lambda v: parse_braced(v, 31, "name"), "Lead Vox")),
    (b"< REP 1 FREQUENCY 578350 >", Report(1, "FREQUENCY", "578350"), (parse_frequency, 578350)),
    (b"< REP 1 RX_RF_LVL 070 >", Report(1, "RX_RF_LVL", "070"), (parse_rf_level, -58)),
    (b"< REP 1 AUDIO_LVL 030 >", Report(1, "AUDIO_LVL", "030"), (parse_audio_level, -20)),
    (b"< REP 1 RF_ANTENNA XB >", Report(1, "RF_ANTENNA", "XB"), (parse_antenna, Antenna.B)),
    (b"< REP 1 RF_INT_DET CRITICAL >", Report(1, "RF_INT_DET", "CRITICAL"), (parse_interference, True)),
    (b"< REP 1 METER_RATE 01000 >", Report(1, "METER_RATE", "01000"), (parse_meter_rate, 1.0)),
    (b"< REP FW_VER {2.7.6.0           } >", Report(None, "FW_VER", "{2.7.6.0           }"),
     (lambda v: parse_braced(v, 24, "fw"), "2.7.6.0")),
    (b"< REP DEVICE_ID {ULXD4Q01} >", Report(None, "DEVICE_ID", "{ULXD4Q01}"),
     (lambda v: parse_braced(v, 31, "id"), "ULXD4Q01")),
]


@pytest.mark.parametrize("wire, message, typed", MESSAGES)
@pytest.mark.parametrize("chunk", [None, 1])  # whole, then one byte at a time
def test_reports_parse_from_any_chunking(wire, message, typed, chunk):
    framer = ShureFramer()
    pieces = [wire] if chunk is None else [wire[i:i + 1] for i in range(len(wire))]
    frames = [f for p in pieces for f in framer.feed(p)]
    assert [parse_frame(f) for f in frames] == [message]
    parse, value = typed
    assert parse(message.value) == value


SAMPLES = [
    # < SAMPLE x ALL nn aaa eee >: antenna LEDs, RF level (-128), audio level (-50)
    (b"< SAMPLE 1 ALL AX 100 040 >", Sample(1, Antenna.A, -28, -10)),
    (b"< SAMPLE 2 ALL XB 070 030 >", Sample(2, Antenna.B, -58, -20)),
    (b"< SAMPLE 4 ALL XX 000 000 >", Sample(4, Antenna.NONE, -128, -50)),
    (b"< SAMPLE 3 ALL AB 115 050 >", Sample(3, Antenna.BOTH, -13, 0)),
]


@pytest.mark.parametrize("wire, sample", SAMPLES)
@pytest.mark.parametrize("chunk", [None, 1])
def test_samples_parse_from_any_chunking(wire, sample, chunk):
    framer = ShureFramer()
    pieces = [wire] if chunk is None else [wire[i:i + 1] for i in range(len(wire))]
    assert [parse_frame(f) for p in pieces for f in framer.feed(p)] == [sample]


def test_rep_err_is_its_own_message():
    assert parse_frame(b"< REP ERR >") == ReportError()


def test_several_messages_in_one_segment_with_or_without_line_ends():
    wire = b"< REP 1 BATT_BARS 004 >< REP 1 BATT_CHARGE 071 >\r\n< SAMPLE 1 ALL AX 100 040 >\r\n"
    frames = ShureFramer().feed(wire)
    assert [parse_frame(f) for f in frames] == [
        Report(1, "BATT_BARS", "004"), Report(1, "BATT_CHARGE", "071"), Sample(1, Antenna.A, -28, -10)]


def test_a_closing_bracket_inside_braces_is_part_of_the_name():
    # Channel names may hold any of !"#$%&'()*+,-./:;<=>?@[\]^_`~ — "<" and ">" too.
    framer = ShureFramer()
    frames = [f for byte in b"< REP 1 CHAN_NAME {a>b<c   } >" for f in framer.feed(bytes([byte]))]
    assert parse_frame(frames[0]) == Report(1, "CHAN_NAME", "{a>b<c   }")


def test_a_message_cut_short_by_the_next_one_is_rejected_and_the_next_one_kept():
    frames = ShureFramer().feed(b"< REP 1 BATT_BA< REP 1 BATT_BARS 003 >")
    with pytest.raises(Malformed) as bad:
        parse_frame(frames[0])
    assert bad.value.kind == "not bracketed"
    assert parse_frame(frames[1]) == Report(1, "BATT_BARS", "003")


def test_a_peer_that_never_closes_a_message_is_cut_off():
    framer = ShureFramer(max_frame=64)
    with pytest.raises(ProtocolError):
        framer.feed(b"< REP 1 CHAN_NAME " + b"x" * 100)


MALFORMED = [
    (b"REP 1 BATT_BARS 004 >", "not bracketed"),
    (b"< REP 9 BATT_BARS 004 >", "bad channel"),
    (b"< REP 1 batt_bars 004 >", "bad parameter"),
    (b"< REP 1 BATT_BARS >", "missing value"),
    (b"< HELLO 1 BATT_BARS 004 >", "unexpected verb"),
    (b"< REP 1 CHAN_NAME {\xe9t\xe9} >", "not ascii"),
    (b"<  >", "empty message"),
    (b"< SAMPLE 1 ALL QQ 100 040 >", "bad sample"),
    (b"< SAMPLE 1 ALL AX 100 >", "bad sample"),
]


@pytest.mark.parametrize("wire, kind", MALFORMED)
def test_malformed_messages_raise_a_typed_error_with_their_kind(wire, kind):
    frames = ShureFramer().feed(wire + b"<")  # the next message's start ends stray text
    with pytest.raises(Malformed) as bad:
        parse_frame(frames[0])
    assert bad.value.kind == kind
    assert isinstance(bad.value, ProtocolError)


BAD_VALUES = [
    (parse_battery_bars, "006", "value out of range"),
    (parse_battery_bars, "4", None),  # short forms are numbers too
    (parse_battery_percent, "101", "value out of range"),
    (parse_battery_runtime, "123456", "bad value"),
    (parse_battery_type, "LEAD", "bad value"),
    (parse_gain, "061", "value out of range"),
    (parse_antenna, "BX", "bad value"),  # not in the document's list (AX, XB, AB, XX)
    (parse_frequency, "57835", "bad value"),
    (parse_interference, "MAYBE", "bad value"),
    (lambda v: parse_braced(v, 8, "CHAN_NAME"), "Lead Vox", "bad value"),
]


@pytest.mark.parametrize("parse, value, kind", BAD_VALUES)
def test_values_out_of_the_documented_range_are_refused(parse, value, kind):
    if kind is None:
        parse(value)
        return
    with pytest.raises(Malformed) as bad:
        parse(value)
    assert bad.value.kind == kind


def test_requests_are_encoded_as_the_document_writes_them():
    assert encode_get("BATT_BARS", 1) == b"< GET 1 BATT_BARS >"
    assert encode_get("ALL", 0) == b"< GET 0 ALL >"
    assert encode_get("FW_VER") == b"< GET FW_VER >"
    assert encode_set("METER_RATE", meter_rate_value(1.0), 1) == b"< SET 1 METER_RATE 01000 >"
    assert encode_set("METER_RATE", meter_rate_value(0), 2) == b"< SET 2 METER_RATE 00000 >"
    assert encode_set("AUDIO_GAIN", gain_value(22), 1) == b"< SET 1 AUDIO_GAIN 040 >"
    assert encode_set("AUDIO_MUTE", "ON", 3) == b"< SET 3 AUDIO_MUTE ON >"


@pytest.mark.parametrize("db", [-19, 43, 2.5])
def test_gain_outside_the_receivers_range_is_refused_before_encoding(db):
    with pytest.raises(InvalidCommand):
        gain_value(db)


def test_metering_never_runs_faster_than_shure_recommends():
    assert ShureOptions().meter_interval >= 1.0
    with pytest.raises(ValidationError):
        ShureOptions(meter_interval=0.1)  # 100 ms: what the protocol allows, not what Shure recommends
    with pytest.raises(InvalidCommand):
        meter_rate_value(0.5)


@pytest.mark.parametrize("model, channels", [("ULXD4", 1), ("ULXD4D", 2), ("ULXD4Q", 4), ("QLXD4", 1),
                                             ("AD4D", 2), ("AD4Q", 4), ("SLXD4D", 2)])
def test_channel_count_follows_the_models_suffix(model, channels):
    assert channels_of_model(model) == channels


def test_bad_input_is_counted_by_kind_and_logged_once_per_kind(caplog):
    counts = MalformedLog(logging.getLogger("test.shure"), "rx")
    with caplog.at_level(logging.WARNING, logger="test.shure"):
        for wire in [b"< REP 9 BATT_BARS 004 >", b"< REP 8 BATT_BARS 004 >", b"< HELLO >"]:
            try:
                parse_frame(wire)
            except Malformed as exc:
                counts.note(exc)
    assert counts.counts == {"bad channel": 2, "unexpected verb": 1}
    assert len(caplog.records) == 2
