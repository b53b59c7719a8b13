"""The Shure driver against the simulator speaking SLX-D and Axient Digital, over real TCP on 127.0.0.1.

The driver picks the command set from the receiver's MODEL reply; above it the
capabilities read the same as on ULX-D (tests/integration/test_shure_driver.py).
"""

import logging

import pytest

from audio_fixtures import device_room
from drivers.audio.shure import ShureOptions, ShureReceiver
from drivers.audio.shure_codec import AXIENT, SLXD
from drivers.capabilities import Antenna, BatteryType, RuntimeState
from drivers.errors import InvalidCommand, Unsupported
from drivers.status import Status
from drivers.transports.tcp import TcpTransport
from helpers import FakeClock
from simulators.shure import ShureSimulator

TIMEOUT = 0.3
FAMILIES = [("SLXD4D", SLXD), ("AD4Q", AXIENT)]


def make_room(model: str, *, poll_interval=0.2, metering=False, family="auto", **sim_options):
    """The simulator speaking ``model``'s dialect on a clock the test moves, and the driver online on it."""
    clock = FakeClock()
    options = ShureOptions(metering=metering, family=family)
    return device_room(
        ShureSimulator(clock=clock, model=model, **sim_options),
        lambda host, port: ShureReceiver("mics", TcpTransport(host, port), options=options, timeout=TIMEOUT),
        poll_interval=poll_interval, clock=clock,
    )


@pytest.fixture(params=FAMILIES, ids=[model for model, _ in FAMILIES])
async def room(request):
    model, _ = request.param
    async with make_room(model) as room:
        yield room


async def test_the_family_comes_from_the_model_and_the_capabilities_read_as_on_ulxd(room):
    device = room.device
    model = room.sim.model
    assert device.family is (SLXD if model.startswith("SLXD") else AXIENT)
    identity = device.state["identity"]
    assert (identity.manufacturer, identity.model, identity.firmware) == ("Shure", model, "2.7.6.0")
    assert device.family.label in identity.protocol
    assert device.channel_numbers() == tuple(range(1, len(room.sim.channels) + 1))
    assert device.state["channels"][1].name == "MIC 1"
    assert device.state["channels"][1].frequency_khz == 578350  # 7 digits on the wire: 0578350
    transmitter = device.state["transmitters"][2]
    assert transmitter.present and transmitter.model == room.sim.dialect.transmitter_model
    battery = device.state["batteries"][1]
    assert (battery.bars, battery.minutes_left) == (5, 480)
    if device.family is AXIENT:  # TX_BATT_CHARGE_PERCENT and TX_BATT_TYPE
        assert (battery.percent, battery.type) == (100, BatteryType.LITHIUM_ION)
    else:  # SLX-D reports bars and minutes only
        assert (battery.percent, battery.type) == ("unknown", BatteryType.UNKNOWN)
    assert device.state["gains"][1] == 0
    assert device.state["rf"][1].antenna is Antenna.BOTH and device.state["rf"][1].level_dbm > -95
    assert device.state["levels"][1] == -120  # nobody talking: the bottom of the -120…0 dBFS meter
    assert set(device.capabilities) >= {"wireless", "battery", "rf", "audio_levels", "gain", "identity"}
    assert room.supervisor.status is Status.ONLINE


@pytest.fixture(params=["ULXD4D"] + [model for model, _ in FAMILIES])
async def any_family_room(request):
    async with make_room(request.param) as room:
        yield room


async def test_a_transmitter_switched_off_is_unknown_then_calculating(any_family_room):
    """In every family: sentinels are states, never numbers (no "65535 minutes left")."""
    room = any_family_room
    room.sim.switch_transmitter(2, False)
    await room.wait_for(lambda: not room.channel("transmitters", 2).present, "transmitter 2 off")
    battery = room.channel("batteries", 2)
    assert (battery.bars, battery.percent, battery.minutes_left) == ("unknown", "unknown", RuntimeState.UNKNOWN)
    assert room.supervisor.status is Status.ONLINE  # a mic switched off is not a receiver fault
    room.sim.switch_transmitter(2, True)
    await room.wait_for(lambda: room.channel("batteries", 2).minutes_left is RuntimeState.CALCULATING, "calculating")
    room.clock.advance(61)
    await room.wait_for(lambda: isinstance(room.channel("batteries", 2).minutes_left, int), "a runtime estimate")


@pytest.mark.parametrize("model, family", FAMILIES)
async def test_battery_drain_arrives_as_unsolicited_tx_batt_reports(model, family):
    async with make_room(model, poll_interval=30) as room:  # polls far apart: only the receiver's REPs carry it
        room.clock.advance(4 * 3600)  # half of an 8-hour battery
        await room.wait_for(lambda: room.channel("batteries").minutes_left == 240, "240 minutes left")
        assert room.channel("batteries").bars == 3


@pytest.mark.parametrize("model, family", FAMILIES)
async def test_meters_arrive_in_the_familys_sample_layout(model, family):
    async with make_room(model, metering=True, talk=[1]) as room:
        assert room.sim.channels[1].meter_rate_ms == 1000  # < SET 1 METER_RATE 01000 >
        await room.wait_for(lambda: room.device.samples_received >= 2, "SAMPLE reports", within=2.5)
        await room.wait_for(lambda: room.channel("levels") > -40, "the talker on the meter", within=2.5)
        assert room.channel("rf").level_dbm > -95 and room.channel("rf").antenna is not Antenna.NONE
        assert room.channel("clipping") is False
        assert room.device.malformed.total == 0
    assert room.sim.channels[1].meter_rate_ms == 0  # metering switched off on the way out


@pytest.mark.parametrize("model, family", FAMILIES)
async def test_rf_loss_is_a_fault_and_the_link_comes_back(model, family):
    async with make_room(model, metering=True) as room:
        room.sim.inject("rf_loss", channel=1)
        await room.wait_for_status(Status.FAULT)
        assert "channel 1: RF lost" in room.supervisor.reason
        rf = room.channel("rf")
        assert (rf.antenna, rf.level_dbm) == (Antenna.NONE, -120)  # RSSI 000: nothing received
        room.sim.clear_faults()
        await room.wait_for_status(Status.ONLINE)
        assert room.channel("rf").antenna is Antenna.BOTH


async def test_axient_interference_status_is_a_fault():
    async with make_room("AD4D") as room:
        room.sim.inject("interference", channel=2)
        await room.wait_for_status(Status.FAULT)
        assert "channel 2: RF interference" in room.supervisor.reason  # INTERFERENCE_STATUS DETECTED
        room.sim.clear_faults()
        await room.wait_for_status(Status.ONLINE)


async def test_gain_and_name_commands_reach_the_receiver(room):
    await room.execute({"type": "gain", "channel": 1, "db": 6})
    assert room.sim.channels[1].gain == 24  # < SET 1 AUDIO_GAIN 024 >
    assert room.channel("gains") == 6
    await room.execute({"type": "channel_name", "channel": 2, "name": "Podium"})
    assert room.sim.channels[2].name == "Podium"  # < SET 2 CHAN_NAME {Podium} >
    assert room.channel("channels", 2).name == "Podium"


@pytest.mark.parametrize("name, fits_on", [
    ("Lead Vox", {"SLXD4D", "AD4Q"}),
    ("Lead Vocal", {"AD4Q"}),                    # 10 characters: SLX-D takes 8, Axient 31
    ("x" * 31, {"AD4Q"}),
    ("x" * 32, set()),
    ("Vox {1}", set()),                         # braces are the string's framing
    ("Vox <1>", set()),                         # never sent: readers cut messages at ">"
    ("Vox|1", set()),
    ("Voix é", set()),                          # ASCII only
    ("   ", set()),
])
async def test_channel_names_are_checked_against_the_family_before_anything_is_sent(room, name, fits_on):
    before = room.sim.requests_seen("CHAN_NAME")
    if room.sim.model in fits_on:
        await room.execute({"type": "channel_name", "channel": 1, "name": name})
        assert room.sim.channels[1].name == name
        return
    with pytest.raises(InvalidCommand) as refused:
        await room.execute({"type": "channel_name", "channel": 1, "name": name})
    assert refused.value.field == "name"
    assert room.sim.requests_seen("CHAN_NAME") == before


async def test_mute_where_the_family_has_it_and_refused_where_not(room):
    before = room.sim.requests_seen("SET")
    if room.device.family is SLXD:
        assert room.device.mutable_channels() == ()
        assert "mutes" not in room.device.state
        with pytest.raises(Unsupported):
            await room.execute({"type": "channel_mute", "channel": 1, "muted": True})
        assert room.sim.requests_seen("SET") == before
    else:
        await room.execute({"type": "channel_mute", "channel": 2, "muted": True})
        assert room.sim.channels[2].muted
        assert room.channel("mutes", 2) is True


@pytest.mark.parametrize("model, family", FAMILIES)
async def test_an_explicit_family_option_is_used(model, family):
    async with make_room(model, family=family.key) as room:
        assert room.device.family is family
        assert room.channel("batteries").bars == 5


BAD_LINES = {
    "SLXD4D": (b"< SAMPLE 1 ALL 102 102 >"             # a field short
               b"< REP 1 TX_BATT_BARS 009 >"           # 0-5 or 255
               b"< REP 1 RSSI 1 200 >"                 # 000-120
               b"garbage< HELLO >"),
    "AD4Q": (b"< SAMPLE 1 ALL 005 031 102 102 BB 31 086 >"   # two antennas, one reading
             b"< REP 1 TX_BATT_CHARGE_PERCENT 101 >"
             b"< REP 1 ANTENNA_STATUS QQ >"
             b"garbage< HELLO >"),
}


async def test_bad_lines_are_counted_as_malformed_and_never_stop_the_receiver(room, caplog):
    with caplog.at_level(logging.WARNING, logger="drivers.audio.shure"):
        for _ in range(2):
            room.sim.send_raw(BAD_LINES[room.sim.model])
        room.sim.send_raw(b"< REP 1 TX_BATT_BARS 002 >")  # then a good one
        await room.wait_for(lambda: room.channel("batteries").bars == 2, "the good report applied")
    counts = room.device.malformed.counts
    assert counts["bad sample"] == 2 and counts["not bracketed"] == 2 and counts["unexpected verb"] == 2
    assert counts["value out of range"] + counts["bad value"] == 4
    assert room.device.samples_received == 0  # nothing half-parsed was applied
    await room.wait_for(lambda: room.supervisor.status is Status.ONLINE, "still online")
