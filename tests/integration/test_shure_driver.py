"""The Shure receiver driver against the Shure simulator over real TCP on 127.0.0.1."""

import asyncio
import logging
import time

import pytest

from audio_fixtures import device_room
from drivers.audio.shure import ShureOptions, ShureReceiver
from drivers.capabilities import Antenna, BatteryType
from drivers.errors import InvalidCommand, Unsupported
from drivers.status import Status
from drivers.transports.tcp import TcpTransport
from helpers import FakeClock
from simulators.shure import ShureSimulator

TIMEOUT = 0.3


def make_room(*, poll_interval=0.2, metering=False, **sim_options):
    """The receiver simulator on a clock the test moves, and the driver online on it."""
    clock = FakeClock()  # hours of battery drain in no time
    options = ShureOptions(metering=metering)
    return device_room(
        ShureSimulator(clock=clock, **sim_options),
        lambda host, port: ShureReceiver("mics", TcpTransport(host, port), options=options, timeout=TIMEOUT),
        poll_interval=poll_interval, clock=clock,
    )


@pytest.fixture
async def receiver_room():
    async with make_room() as room:
        yield room


async def test_receiver_comes_online_with_identity_channels_and_charged_transmitters(receiver_room):
    device = receiver_room.device
    identity = device.state["identity"]
    assert (identity.manufacturer, identity.model, identity.firmware) == ("Shure", "ULXD4D", "2.7.6.0")
    assert device.channel_numbers() == (1, 2)
    assert device.state["channels"][1].name == "MIC 1"
    assert device.state["channels"][1].frequency_khz == 578350
    assert device.state["transmitters"][2].present and device.state["transmitters"][2].model == "ULXD2"
    battery = device.state["batteries"][1]
    assert (battery.bars, battery.percent, battery.minutes_left, battery.type) == (5, 100, 480, BatteryType.LITHIUM_ION)
    assert device.state["gains"] == {1: 0, 2: 0}
    assert device.state["mutes"] == {1: False, 2: False}
    assert set(device.capabilities) >= {"wireless", "battery", "rf", "audio_levels", "gain", "channel_mute", "identity"}


async def test_battery_drains_with_the_clock_and_the_receiver_reports_it_unasked():
    # Polls far apart: only the receiver's own REPs can carry the change.
    async with make_room(poll_interval=30) as room:
        room.clock.advance(4 * 3600)  # half of an 8-hour battery
        await room.wait_for(lambda: room.channel("batteries").percent == 50, "battery at 50 %")
        battery = room.channel("batteries")
        assert (battery.bars, battery.minutes_left) == (3, 240)


@pytest.mark.parametrize("fault, reason", [
    ("battery_flat", "battery flat"),
    ("rf_loss", "RF lost"),
    ("interference", "RF interference"),
])
async def test_receiver_faults_show_as_fault_status_and_clear(receiver_room, fault, reason):
    room = receiver_room
    room.sim.inject(fault, channel=1)
    await room.wait_for_status(Status.FAULT, within=3)
    assert reason in room.supervisor.reason and "channel 1" in room.supervisor.reason
    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=3)


async def test_transmitter_off_fault_is_a_state_not_a_fault(receiver_room):
    room = receiver_room
    room.sim.inject("transmitter_off")
    await room.wait_for(lambda: not room.channel("transmitters", 1).present, "transmitters off")
    assert room.channel("batteries", 1).bars == "unknown"
    assert room.supervisor.status is Status.ONLINE
    room.sim.clear_faults()
    await room.wait_for(lambda: room.channel("transmitters", 1).present, "transmitters back")


async def test_rf_loss_drops_rf_and_audio_to_the_bottom_of_the_scale(receiver_room):
    room = receiver_room
    room.sim.talk(1)
    await room.wait_for(lambda: room.channel("levels") > -45, "the talker heard")
    room.sim.inject("rf_loss", channel=1)
    await room.wait_for(lambda: room.channel("rf").antenna is Antenna.NONE, "no antenna")
    assert room.channel("rf").level_dbm == -128
    await room.wait_for(lambda: room.channel("levels") == -50, "silence")


@pytest.mark.parametrize("fault", ["no_reply", "slow_reply", "garbled", "partial", "disconnect"])
async def test_receiver_goes_offline_when_it_stops_answering_and_recovers(receiver_room, fault):
    room = receiver_room
    injected = time.monotonic()
    room.sim.inject(fault, delay=10 * TIMEOUT)
    seen = await room.wait_for_status(Status.OFFLINE, within=2 * TIMEOUT + 0.3)
    assert seen - injected <= 2 * TIMEOUT + 0.3
    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=5.0)


async def test_reboot_drops_the_receiver_briefly_then_it_is_back(receiver_room):
    room = receiver_room
    room.sim.inject("reboot", reboot_time=0.5)
    await room.wait_for_status(Status.OFFLINE, within=2 * TIMEOUT + 0.3)
    await room.wait_for_status(Status.ONLINE, within=5.0)


async def test_audio_level_moves_with_the_talker(receiver_room):
    room = receiver_room
    assert room.channel("levels") == -50  # nobody talking: the bottom of the meter
    room.sim.talk(1, level_dbfs=-20)
    await room.wait_for(lambda: room.channel("levels") > -30, "the level rises with the voice")
    room.sim.silence(1)
    await room.wait_for(lambda: room.channel("levels") == -50, "silence again")


async def test_gain_and_mute_commands_reach_the_receiver(receiver_room):
    room = receiver_room
    await room.execute({"type": "gain", "channel": 1, "db": 6})
    assert room.sim.channels[1].gain == 24
    assert room.channel("gains") == 6
    await room.execute({"type": "channel_mute", "channel": 2, "muted": True})
    assert room.sim.channels[2].muted
    assert room.channel("mutes", 2) is True


@pytest.mark.parametrize("payload, error", [
    ({"type": "gain", "channel": 1, "db": 43}, InvalidCommand),     # above +42 dB
    ({"type": "gain", "channel": 1, "db": -19}, InvalidCommand),    # below -18 dB
    ({"type": "gain", "channel": 1, "db": 2.5}, InvalidCommand),    # whole dB steps only
    ({"type": "gain", "channel": 3, "db": 0}, InvalidCommand),      # a 2-channel receiver
    ({"type": "fader", "channel": 1, "db": 0}, Unsupported),        # a receiver has no faders
])
async def test_bad_commands_are_refused_before_anything_is_sent(receiver_room, payload, error):
    room = receiver_room
    before = room.sim.requests_seen("SET")
    with pytest.raises(error):
        await room.execute(payload)
    assert room.sim.requests_seen("SET") == before


async def test_a_receiver_without_mute_refuses_mute_commands():
    async with make_room(model="QLXD4") as room:
        assert room.device.channel_numbers() == (1,)
        assert "mutes" not in room.device.state or 1 not in room.device.state["mutes"]
        with pytest.raises(Unsupported):
            await room.execute({"type": "channel_mute", "channel": 1, "muted": True})


async def test_a_change_made_elsewhere_arrives_as_an_unsolicited_report():
    async with make_room(poll_interval=30) as room:
        # Someone turns the gain on the front panel, or in Wireless Workbench.
        reader, writer = await asyncio.open_connection(room.sim.host, room.sim.port)
        writer.write(b"< SET 1 AUDIO_GAIN 030 >")
        await reader.readuntil(b">")
        await room.wait_for(lambda: room.channel("gains") == 12, "gain +12 dB reported")
        writer.close()


async def test_malformed_reports_are_counted_logged_once_and_never_stop_the_receiver(receiver_room, caplog):
    room = receiver_room
    with caplog.at_level(logging.WARNING, logger="drivers.audio.shure"):
        for _ in range(3):
            room.sim.send_raw(b"< REP 1 BATT_BARS 009 >< REP 7 BATT_BARS 001 >garbage< HELLO >")
        room.sim.send_raw(b"< REP 1 BATT_BARS 002 >")  # then a good one
        await room.wait_for(lambda: room.channel("batteries").bars == 2, "the good report applied")
    counts = room.device.malformed.counts
    assert counts == {"value out of range": 3, "bad channel": 3, "not bracketed": 3, "unexpected verb": 3}
    logged = [r for r in caplog.records if "ignored bad input" in r.getMessage()]
    assert len(logged) == 4  # once per kind
    room.sim.clear_faults()
    await room.wait_for(lambda: room.supervisor.status is Status.ONLINE, "online")


async def test_sample_metering_runs_at_the_recommended_rate_and_updates_levels():
    async with make_room(metering=True, poll_interval=30, talk=[1]) as room:
        assert room.sim.channels[1].meter_rate_ms == 1000  # < SET 1 METER_RATE 01000 >
        assert room.sim.requests_seen("METER_RATE 01000") == 2
        assert room.device.samples_received == 0
        await room.wait_for(lambda: room.device.samples_received >= 2, "a SAMPLE from each channel", within=2.0)
    assert room.sim.channels[1].meter_rate_ms == 0  # metering switched off on the way out
