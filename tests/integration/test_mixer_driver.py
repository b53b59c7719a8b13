"""The X32 and X-Air drivers against the mixer simulators over real UDP on 127.0.0.1."""

import logging
import time

import pytest

from audio_fixtures import device_room, running
from drivers.audio.mixer import MixerOptions, X32Mixer, XAirMixer
from drivers.errors import InvalidCommand, Unsupported
from drivers.status import Status
from drivers.transports.udp import UdpTransport
from simulators.shure import ShureSimulator
from simulators.x32 import X32Simulator, XAirSimulator

TIMEOUT = 0.3
FAMILIES = {"x32": (X32Simulator, X32Mixer), "xair": (XAirSimulator, XAirMixer)}


def make_room(family="xair", *, poll_interval=0.2, sim_options=None, **options):
    """The console simulator of ``family`` and its driver, online on it."""
    sim_class, driver_class = FAMILIES[family]
    options = MixerOptions(**{"channels": 4, "meter_interval": 0.05, **options})
    return device_room(
        sim_class(**(sim_options or {})),
        lambda host, port: driver_class("mixer", UdpTransport(host, port), options=options, timeout=TIMEOUT),
        poll_interval=poll_interval,
    )


@pytest.fixture(params=["x32", "xair"])
async def mixer_room(request):
    async with make_room(request.param) as room:
        yield room


async def test_mixer_comes_online_with_identity_faders_and_mutes(mixer_room):
    device = mixer_room.device
    identity = device.state["identity"]
    assert identity.model == mixer_room.sim.console.model and identity.firmware
    assert device.state["faders"][1] == -0.01  # 0 dB lands on step 767: -0.01 dB
    assert device.state["mutes"] == {"main": False, 1: False, 2: False, 3: False, 4: False}
    assert device.state["channel_names"][1] == "Ch 1"
    assert set(device.capabilities) >= {"faders", "channel_mute", "scenes", "phantom", "audio_levels", "identity"}


async def test_fader_mute_and_phantom_commands_reach_the_console(mixer_room):
    room, sim = mixer_room, mixer_room.sim
    await room.execute({"type": "fader", "channel": 2, "db": -10})
    assert sim.param("/ch/02/mix/fader") == pytest.approx(512 / 1023)
    assert room.channel("faders", 2) == -9.98  # the step -10 dB lands on, read back
    await room.execute({"type": "fader", "channel": "main", "db": "-inf"})
    assert room.channel("faders", "main") == "-inf"
    await room.execute({"type": "channel_mute", "channel": 3, "muted": True})
    assert sim.param("/ch/03/mix/on") == 0 and room.channel("mutes", 3) is True
    await room.execute({"type": "phantom", "channel": 1, "on": True})
    headamp = sim.console.headamp.format(sim.console.headamp_base)
    assert sim.param(headamp) == 1 and room.channel("phantom", 1) is True


@pytest.mark.parametrize("payload, error", [
    ({"type": "fader", "channel": 1, "db": 12}, InvalidCommand),      # above +10 dB
    ({"type": "fader", "channel": 1, "db": -95}, InvalidCommand),     # below the law
    ({"type": "fader", "channel": 9, "db": 0}, InvalidCommand),       # watching 4 channels
    ({"type": "phantom", "channel": 0, "on": True}, Exception),       # channels start at 1
    ({"type": "scene", "scene": 500}, InvalidCommand),
    ({"type": "gain", "channel": 1, "db": 0}, Unsupported),           # gain is the receiver's
])
async def test_bad_commands_are_refused_before_anything_is_sent(mixer_room, payload, error):
    room = mixer_room
    sent = len(room.sim.received)
    with pytest.raises(error):
        await room.execute(payload)
    assert not [m for m in room.sim.received[sent:] if m[1]]  # no set reached the console


async def test_a_change_on_the_console_arrives_through_xremote():
    async with make_room("x32", poll_interval=30) as room:  # no polls: only /xremote can carry it
        room.sim.console_set("/ch/01/mix/fader", 0.5)
        # 0.5 is kept as step 512 of 1023: -9.98 dB
        await room.wait_for(lambda: room.channel("faders", 1) == -9.98, "the console's fader move")
        room.sim.console_set("/main/st/mix/on", 0)
        await room.wait_for(lambda: room.channel("mutes", "main") is True, "the console's main mute")


async def test_expired_xremote_is_renewed_and_console_changes_flow_again():
    async with make_room("xair", poll_interval=30, renew_interval=0.3) as room:
        room.sim.inject("xremote_expired")  # the mixer forgets us
        assert not room.sim.xremote
        await room.wait_for(lambda: room.sim.xremote, "the driver subscribes again")
        room.sim.console_set("/ch/02/mix/on", 0)
        await room.wait_for(lambda: room.channel("mutes", 2) is True, "the change after renewal")


async def test_meters_move_with_the_talker_on_a_wired_receiver():
    async with running(ShureSimulator()) as receiver, make_room("xair") as room:
        room.sim.connect_input(1, receiver.audio_output(1))
        room.sim.connect_input(2, receiver.audio_output(2))
        await room.wait_for(lambda: room.channel("levels", 1) is not None, "meters")
        assert room.channel("levels", 1) <= -50  # nobody talking: the receiver's noise floor
        receiver.talk(1, level_dbfs=-20)
        await room.wait_for(lambda: room.channel("levels", 1) > -30, "channel 1 moves with the talker")
        assert room.channel("levels", 2) <= -50  # the other mic stays quiet
        receiver.silence(1)
        await room.wait_for(lambda: room.channel("levels", 1) <= -50, "quiet again")
        receiver.switch_transmitter(1, False)  # nothing comes out of the receiver at all
        await room.wait_for(lambda: room.channel("levels", 1) == -128, "no signal")


async def test_a_channel_driven_too_hot_clips_and_shows_as_a_fault():
    async with running(ShureSimulator()) as receiver, make_room("x32") as room:
        room.sim.connect_input(1, receiver.audio_output(1))
        receiver.talk(1, level_dbfs=-20)
        receiver.channels[1].gain = 60  # +42 dB of receiver gain: far past full scale
        await room.wait_for_status(Status.FAULT, within=3)
        assert "clipping on channel 1" in room.supervisor.reason
        assert room.channel("clipping", 1) is True
        receiver.channels[1].gain = 18
        await room.wait_for_status(Status.ONLINE, within=3)


async def test_clipping_fault_shows_and_clears(mixer_room):
    room = mixer_room
    room.sim.inject("clipping", channel=2)
    await room.wait_for_status(Status.FAULT, within=3)
    assert "channel 2" in room.supervisor.reason
    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=3)


@pytest.mark.parametrize("fault", ["no_reply", "slow_reply", "garbled", "partial", "disconnect"])
async def test_mixer_goes_offline_when_it_stops_answering_and_recovers(mixer_room, fault):
    room = mixer_room
    injected = time.monotonic()
    room.sim.inject(fault, delay=10 * TIMEOUT)
    seen = await room.wait_for_status(Status.OFFLINE, within=2 * TIMEOUT + 0.3)
    assert seen - injected <= 2 * TIMEOUT + 0.3
    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=5.0)


async def test_lost_datagrams_are_sent_again_and_the_mixer_stays_online(mixer_room):
    room = mixer_room
    log = []
    room.supervisor._on_status = lambda status, reason: log.append(status)
    room.sim.inject("packet_loss", loss=0.5)  # every other datagram, each way
    await room.execute({"type": "fader", "channel": 1, "db": -20})
    assert room.channel("faders", 1) == pytest.approx(-20, abs=0.05)
    await room.wait_for(lambda: room.device.link.stats.resends >= 3, "resent requests")
    assert Status.OFFLINE not in log
    room.sim.inject("packet_loss", loss=1.0)  # the cable is as good as cut
    await room.wait_for_status(Status.OFFLINE, within=2 * TIMEOUT + 0.3)
    room.sim.clear_faults()
    await room.wait_for_status(Status.ONLINE, within=5.0)


async def test_reboot_brings_the_console_back_to_its_last_snapshot(mixer_room):
    room = mixer_room
    await room.execute({"type": "fader", "channel": 1, "db": -30})
    room.sim.inject("reboot", reboot_time=0.5)
    await room.wait_for_status(Status.OFFLINE, within=2 * TIMEOUT + 0.3)
    await room.wait_for_status(Status.ONLINE, within=5.0)
    await room.wait_for(lambda: room.channel("faders", 1) == -0.01, "the snapshot's fader, re-read")


async def test_scenes_are_recalled_and_their_changes_arrive(mixer_room):
    room, sim = mixer_room, mixer_room.sim
    first = sim.console.scenes.start
    sim.console_set("/ch/04/mix/on", 0)
    sim.save_snapshot(first + 1)  # a "break" scene: channel 4 muted
    sim.console_set("/ch/04/mix/on", 1)
    await room.wait_for(lambda: room.channel("mutes", 4) is False, "channel 4 on")
    await room.execute({"type": "scene", "scene": first + 1})
    assert room.device.state["scene"] == first + 1
    await room.wait_for(lambda: room.channel("mutes", 4) is True, "the scene's mute")


async def test_malformed_packets_are_counted_logged_once_and_never_stop_the_mixer(mixer_room, caplog):
    room = mixer_room
    port = room.device.transport.local_port
    # From the mixer's own address: the driver's socket only hears its peer.
    bad = [
        b"hello",                                                             # not OSC
        b"/ch/01/mix/fader\0\0\0\0,f\0\0\x3f",                                 # a float cut short
        b"/meters/1\0\0\0,b\0\0" + (6).to_bytes(4, "big") + b"\x28\0\0\0\0\0\0\0",  # blob of the wrong size
        b"/ch/01/mix/fader\0\0\0\0,s\0\0loud\0\0\0\0",                         # a string where a float goes
    ]
    with caplog.at_level(logging.WARNING, logger="drivers.datagram_link"):
        for _ in range(2):
            for datagram in bad:
                room.sim._transport.sendto(datagram, ("127.0.0.1", port))
        await room.wait_for(lambda: sum(room.device.malformed.values()) >= 8, "bad packets counted")
    assert room.device.malformed == {"not osc": 2, "bad osc": 2, "blob size": 2, "bad value": 2}
    assert len([r for r in caplog.records if "dropped a datagram" in r.getMessage()]) == 4
    await room.execute({"type": "fader", "channel": 1, "db": 0})  # still answering
    assert room.supervisor.status is Status.ONLINE
