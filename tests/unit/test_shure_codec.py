"""The Shure command-strings codec, on bytes from Shure's ULX-D, SLX-D and Axient Digital
command strings documents.

Value formats and sentinels as the document states them: BATT_BARS 000-005 with 255
unknown; BATT_CHARGE percent with 255 unknown; BATT_RUN_TIME minutes with 65533
(battery communication error), 65534 (calculating) and 65535 (unknown); AUDIO_GAIN
000-060 = value - 18 dB; RX_RF_LVL dBm = value - 128; AUDIO_LVL dBFS = value - 50;
RF_ANTENNA AX, XB, AB, XX; SAMPLE x ALL nn aaa eee; METER_RATE 5 digits of ms.

SLX-D and Axient (bottom of the file): TX_-prefixed battery figures with the same
sentinels, TX_MODEL with UNKNOWN, FREQUENCY in 7 digits, RSSI / AUDIO_LEVEL_RMS /
AUDIO_LEVEL_PEAK as value - 120, RSSI per antenna (``RSSI 1 083``), Axient's
ANTENNA_STATUS letters (X off, B blue, R red) and INTERFERENCE_STATUS NONE/DETECTED;
SAMPLE x ALL ppp rrr sss (SLX-D) and SAMPLE x ALL qual aud peak rms ants (bitmap rssi)…
(Axient, one group per antenna letter, a second section in FD-C).
"""

import logging

import pytest
from pydantic import ValidationError

from drivers.audio.malformed import Malformed, MalformedLog
from drivers.audio.shure import ShureOptions
from drivers.audio.shure_codec import (
    AXIENT,
    SLXD,
    ULXD,
    Report,
    ReportError,
    Sample,
    ShureFramer,
    channels_of_model,
    encode_get,
    encode_set,
    family_of_model,
    gain_value,
    meter_rate_value,
    name_value,
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


# --- SLX-D and Axient Digital: the same grammar, their own names and scales -------------------

# (family, wire, role the family table gives the parameter, typed value)
FAMILY_REPORTS = [
    (SLXD, b"< REP 1 TX_MODEL SLXD2 >", "transmitter", Transmitter(present=True, model="SLXD2")),
    (SLXD, b"< REP 1 TX_MODEL UNKNOWN >", "transmitter", Transmitter(present=False)),
    (SLXD, b"< REP 2 TX_BATT_BARS 004 >", "battery_bars", 4),
    (SLXD, b"< REP 2 TX_BATT_BARS 255 >", "battery_bars", "unknown"),
    (SLXD, b"< REP 1 TX_BATT_MINS 00312 >", "battery_minutes", 312),
    (SLXD, b"< REP 1 TX_BATT_MINS 65534 >", "battery_minutes", RuntimeState.CALCULATING),
    (SLXD, b"< REP 1 TX_BATT_MINS 65535 >", "battery_minutes", RuntimeState.UNKNOWN),
    (SLXD, b"< REP 1 TX_BATT_MINS 65533 >", "battery_minutes", RuntimeState.COMM_ERROR),
    (SLXD, b"< REP 1 FREQUENCY 0578350 >", "frequency", 578350),
    (SLXD, b"< REP 1 AUDIO_GAIN 040 >", "gain", 22),
    (SLXD, b"< REP 1 RSSI 1 083 >", "rssi", (1, -37)),        # GET x RSSI 0: one REP per antenna
    (SLXD, b"< REP 1 RSSI 096 >", "rssi", (None, -24)),       # a combined reading
    (SLXD, b"< REP 1 AUDIO_LEVEL_PEAK 102 >", "audio_peak", -18),
    (SLXD, b"< REP 1 AUDIO_LEVEL_RMS 000 >", "audio_level", -120),
    (SLXD, b"< REP 1 CHAN_NAME {Lead Vox                       } >", "name", "Lead Vox"),
    (SLXD, b"< REP 1 ANTENNA_STATUS XB >", "antenna", Antenna.B),  # SLX-D+
    (AXIENT, b"< REP 1 TX_MODEL ADX2FD >", "transmitter", Transmitter(present=True, model="ADX2FD")),
    (AXIENT, b"< REP 3 TX_BATT_CHARGE_PERCENT 071 >", "battery_percent", 71),
    (AXIENT, b"< REP 3 TX_BATT_CHARGE_PERCENT 255 >", "battery_percent", "unknown"),
    (AXIENT, b"< REP 1 TX_BATT_TYPE LION >", "battery_type", BatteryType.LITHIUM_ION),
    (AXIENT, b"< REP 1 TX_BATT_MINS 00095 >", "battery_minutes", 95),
    (AXIENT, b"< REP 4 INTERFERENCE_STATUS DETECTED >", "interference", True),
    (AXIENT, b"< REP 4 INTERFERENCE_STATUS NONE >", "interference", False),
    (AXIENT, b"< REP 1 ANTENNA_STATUS BX >", "antenna", Antenna.A),
    (AXIENT, b"< REP 1 ANTENNA_STATUS XB >", "antenna", Antenna.B),
    (AXIENT, b"< REP 1 ANTENNA_STATUS BR >", "antenna", Antenna.BOTH),   # red is still a signal
    (AXIENT, b"< REP 1 ANTENNA_STATUS XX >", "antenna", Antenna.NONE),
    (AXIENT, b"< REP 1 ANTENNA_STATUS BBBB >", "antenna", Antenna.BOTH),  # Quadversity
    (AXIENT, b"< REP 1 AUDIO_MUTE ON >", "mute", True),
    (AXIENT, b"< REP 1 FREQUENCY 0543125 >", "frequency", 543125),
]


@pytest.mark.parametrize("family, wire, role, value", FAMILY_REPORTS)
@pytest.mark.parametrize("chunk", [None, 1])
def test_family_reports_parse_through_the_familys_table(family, wire, role, value, chunk):
    framer = ShureFramer()
    pieces = [wire] if chunk is None else [wire[i:i + 1] for i in range(len(wire))]
    (message,) = [parse_frame(f, family) for p in pieces for f in framer.feed(p)]
    got_role, parse = family.channel_params[message.param]
    assert (got_role, parse(message.value)) == (role, value)


FAMILY_SAMPLES = [
    # SLX-D: < SAMPLE x ALL audPeak audRms rfRssi >, all value - 120; no antenna field
    (SLXD, b"< SAMPLE 1 ALL 102 102 086 >", Sample(1, None, -34, -18, -18)),
    (SLXD, b"< SAMPLE 2 ALL 110 090 000 >", Sample(2, None, -120, -30, -10)),
    # Axient: qual audBitmap audPeak audRms antStatus (rfBitmap rssi) per antenna
    (AXIENT, b"< SAMPLE 1 ALL 005 031 102 102 BB 31 086 31 065 >", Sample(1, Antenna.BOTH, -34, -18, -18)),
    (AXIENT, b"< SAMPLE 2 ALL 004 015 095 090 XB 00 000 31 071 >", Sample(2, Antenna.B, -49, -30, -25)),
    (AXIENT, b"< SAMPLE 3 ALL 255 000 000 000 XX 00 000 00 000 >", Sample(3, Antenna.NONE, -120, -120, -120)),
    # Quadversity: four antenna letters, four readings
    (AXIENT, b"< SAMPLE 1 ALL 005 031 102 102 BBBB 31 083 31 068 31 069 31 072 >",
     Sample(1, Antenna.BOTH, -37, -18, -18)),
    # FD-C: a second antenna section for the second frequency
    (AXIENT, b"< SAMPLE 1 ALL 005 031 102 102 BB 31 082 31 060 BB 31 082 31 060 >",
     Sample(1, Antenna.BOTH, -38, -18, -18)),
]


@pytest.mark.parametrize("family, wire, sample", FAMILY_SAMPLES)
@pytest.mark.parametrize("chunk", [None, 1])
def test_family_samples_parse_in_their_layout(family, wire, sample, chunk):
    framer = ShureFramer()
    pieces = [wire] if chunk is None else [wire[i:i + 1] for i in range(len(wire))]
    assert [parse_frame(f, family) for p in pieces for f in framer.feed(p)] == [sample]


FAMILY_MALFORMED = [
    (SLXD, b"< SAMPLE 1 ALL 102 102 >", "bad sample"),                           # a field short
    (SLXD, b"< SAMPLE 1 ALL 102 102 086 086 >", "bad sample"),                   # a field too many
    (SLXD, b"< SAMPLE 1 ALL 102 121 086 >", "bad sample"),                       # 000-120
    (SLXD, b"< SAMPLE 1 ALL AX 100 040 >", "bad sample"),                        # ULX-D's layout
    (AXIENT, b"< SAMPLE 1 ALL 005 031 102 102 BB 31 086 >", "bad sample"),       # two antennas, one reading
    (AXIENT, b"< SAMPLE 1 ALL 005 031 102 102 QQ 31 086 31 065 >", "bad sample"),
    (AXIENT, b"< SAMPLE 1 ALL 005 031 102 102 >", "bad sample"),                 # no antenna section
    (AXIENT, b"< SAMPLE 1 ALL 009 031 102 102 BB 31 086 31 065 >", "bad sample"),  # quality 0-5 or 255
    (AXIENT, b"< SAMPLE 1 ALL 005 031 102 102 BB 31 086 31 065 BB 31 086 31 065 BB 31 086 31 065 >",
     "bad sample"),                                                              # FD-C has two sections, not three
]


@pytest.mark.parametrize("family, wire, kind", FAMILY_MALFORMED)
def test_a_sample_not_in_the_familys_layout_is_malformed(family, wire, kind):
    with pytest.raises(Malformed) as bad:
        parse_frame(wire, family)
    assert bad.value.kind == kind


FAMILY_BAD_VALUES = [
    (SLXD, "TX_BATT_BARS", "009", "value out of range"),
    (SLXD, "TX_BATT_MINS", "123456", "bad value"),
    (SLXD, "RSSI", "1 121", "value out of range"),
    (SLXD, "RSSI", "5 083", "value out of range"),    # antennas 1-4
    (SLXD, "RSSI", "1 2 083", "bad value"),
    (SLXD, "FREQUENCY", "05783500", "bad value"),
    (AXIENT, "TX_BATT_CHARGE_PERCENT", "101", "value out of range"),
    (AXIENT, "TX_BATT_TYPE", "LEAD", "bad value"),
    (AXIENT, "INTERFERENCE_STATUS", "CRITICAL", "bad value"),  # that is ULX-D's word
    (AXIENT, "ANTENNA_STATUS", "BBB", "bad value"),
    (AXIENT, "ANTENNA_STATUS", "AX ", "bad value"),
    (AXIENT, "TX_MODEL", "ad2", "bad value"),
]


@pytest.mark.parametrize("family, param, value, kind", FAMILY_BAD_VALUES)
def test_family_values_out_of_the_documented_range_are_refused(family, param, value, kind):
    _, parse = family.channel_params[param]
    with pytest.raises(Malformed) as bad:
        parse(value)
    assert bad.value.kind == kind


@pytest.mark.parametrize("model, family", [
    ("ULXD4Q", ULXD), ("QLXD4", ULXD), ("SLXD4", SLXD), ("SLXD4D", SLXD), ("SLXD4Q+", SLXD),
    ("AD4D", AXIENT), ("AD4Q", AXIENT), ("ad4q", AXIENT), ("UR4D", None), ("", None), (None, None),
])
def test_the_family_is_read_from_the_model(model, family):
    assert family_of_model(model) is family


def test_every_family_keeps_to_the_roles_the_driver_publishes():
    from drivers.audio.shure_codec import FAMILIES, ROLE_STATE

    for family in FAMILIES.values():
        roles = {role for role, _ in family.channel_params.values()}
        assert roles - {"meter_rate"} <= set(ROLE_STATE), family.key
        for read in family.full_read + family.metered_read + family.metering_poll:
            assert read.param in family.channel_params, (family.key, read)
        assert (family.mute_param is None) == ("mute" not in roles)


@pytest.mark.parametrize("family, name, wire", [
    (ULXD, "Lead Vox", b"< SET 1 CHAN_NAME {Lead Vox} >"),
    (SLXD, " Podium ", b"< SET 1 CHAN_NAME {Podium} >"),       # outer spaces would be lost as padding
    (AXIENT, "Lead Vocal, stage left!", b"< SET 1 CHAN_NAME {Lead Vocal, stage left!} >"),
])
def test_channel_names_are_encoded_in_braces(family, name, wire):
    assert encode_set("CHAN_NAME", name_value(name, family.name_rule), 1) == wire


@pytest.mark.parametrize("family, name", [
    (ULXD, "Lead Voc1"), (SLXD, "Lead Voc1"), (AXIENT, "x" * 32),   # 8, 8 and 31 characters at most
    (AXIENT, "a{b}"), (AXIENT, "a<b"), (AXIENT, "a>b"), (AXIENT, "a|b"), (AXIENT, "café"), (AXIENT, "a\tb"),
    (ULXD, ""), (ULXD, "   "),
])
def test_channel_names_the_family_would_refuse_are_refused_before_encoding(family, name):
    with pytest.raises(InvalidCommand) as refused:
        name_value(name, family.name_rule)
    assert refused.value.field == "name"


def test_family_requests_are_encoded_as_the_documents_write_them():
    assert encode_get("RSSI", 1, "0") == b"< GET 1 RSSI 0 >"
    assert encode_get("TX_BATT_BARS", 2) == b"< GET 2 TX_BATT_BARS >"
    assert encode_set("METER_RATE", meter_rate_value(1.0, SLXD.meter_rate_max_ms), 1) == b"< SET 1 METER_RATE 01000 >"
    with pytest.raises(InvalidCommand):
        meter_rate_value(70.0, AXIENT.meter_rate_max_ms)  # SLX-D and Axient stop at 65535 ms
