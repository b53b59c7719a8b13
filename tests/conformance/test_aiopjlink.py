"""aiopjlink, a third-party PJLink client, drives the PJLink simulator over TCP.

If a client written by others against the specification works with the simulator,
the simulator speaks PJLink as real projectors do, not only as our driver expects.
"""

from __future__ import annotations

import pytest
from aiopjlink import (
    PJLink,
    Errors,
    Lamp,
    PJLinkERR2,
    PJLinkERR3,
    PJLinkERR4,
    PJLinkPassword,
    Power,
    Sources,
)

from simulators.faults import Fault
from simulators.pjlink import PjlinkSimulator

PASSWORD = "JBMIAProjectorLink"
CLIENT_TIMEOUT = 2  # aiopjlink's own wait for each reply


class ManualClock:
    """The simulator's clock, moved by the test: warm-ups and lamp hours take no real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=[None, PASSWORD], ids=["open", "password"])
async def projector(request, clock):
    sim = PjlinkSimulator(password=request.param, clock=clock, warmup=30, cooldown=20, udp=False)
    await sim.start()
    yield sim
    await sim.stop()


def link(sim: PjlinkSimulator, password: str | None = "as configured") -> PJLink:
    password = sim.password if password == "as configured" else password
    return PJLink(address=sim.host, port=sim.port, password=password, timeout=CLIENT_TIMEOUT)


async def test_power_on_warms_up_and_power_off_cools_down(projector, clock):
    async with link(projector) as pj:
        assert await pj.power.get() is Power.State.OFF
        await pj.power.turn_on()
        assert await pj.power.get() is Power.State.WARMING
        clock.advance(30)
        assert await pj.power.get() is Power.State.ON
        await pj.power.turn_off()
        assert await pj.power.get() is Power.State.COOLING
        clock.advance(20)
        assert await pj.power.get() is Power.State.OFF


async def test_inputs_are_listed_selected_and_named(projector, clock):
    async with link(projector) as pj:
        await pj.power.turn_on()
        clock.advance(30)
        assert (Sources.Mode.DIGITAL, "2") in await pj.sources.available()
        await pj.sources.set(Sources.Mode.DIGITAL, 2)
        assert await pj.sources.get() == (Sources.Mode.DIGITAL, "2")
        named = await pj.sources.available_with_names()
        assert (Sources.Mode.INTERNAL, "1", "Internal memory") in named  # class 2 lists type 6 too
        await pj.sources.set(Sources.Mode.DIGITAL, 1)
        assert await pj.sources.resolution() == (1920, 1080)


async def test_mute_video_audio_and_both(projector, clock):
    async with link(projector) as pj:
        await pj.power.turn_on()
        clock.advance(30)
        await pj.mute.video(True)
        assert await pj.mute.status() == (True, False)
        await pj.mute.audio(True)
        assert await pj.mute.status() == (True, True)
        await pj.mute.both(False)
        assert await pj.mute.status() == (False, False)


async def test_projector_errors_reach_the_client_as_its_exceptions(projector, clock):
    async with link(projector) as pj:
        with pytest.raises(PJLinkERR3):  # no input switching in standby
            await pj.sources.set(Sources.Mode.DIGITAL, 1)
        await pj.power.turn_on()
        clock.advance(30)
        with pytest.raises(PJLinkERR2):  # the projector has no HDMI 9
            await pj.sources.set(Sources.Mode.DIGITAL, 9)
        projector.inject(Fault.LAMP_FAILURE)
        errors = await pj.errors.query()
        assert errors[Errors.Category.LAMP] is Errors.Level.ERROR
        assert errors[Errors.Category.FAN] is Errors.Level.OK
        with pytest.raises(PJLinkERR4):  # no lamp, no picture
            await pj.power.turn_on()


async def test_lamp_and_filter_hours_grow_while_on(projector, clock):
    async with link(projector) as pj:
        assert await pj.lamps.status() == [(1200, Lamp.State.OFF)]
        await pj.power.turn_on()
        clock.advance(30 + 3 * 3600)
        assert await pj.lamps.status() == [(1203, Lamp.State.ON)]
        assert await pj.filter.hours() == 303
        assert await pj.lamps.replacement_models() == ["LMP-SIM1"]


async def test_identity_freeze_and_volume(projector, clock):
    async with link(projector) as pj:
        table = await pj.info.table()
        assert table["pjlink_class"].value == "2"
        assert table["manufacturer_name"] == "ROOMCTL"
        assert table["serial_number"] == "SIM0000001"
        await pj.power.turn_on()
        clock.advance(30)
        await pj.freeze.set(True)
        assert await pj.freeze.get() is True
        await pj.speaker.turn_up()
        await pj.microphone.turn_down()


@pytest.mark.parametrize("password", ["wrong", None], ids=["wrong", "none"])
async def test_a_projector_with_password_refuses_a_client_without_the_right_one(clock, password):
    async with PjlinkSimulator(password=PASSWORD, clock=clock, udp=False) as sim:
        with pytest.raises(PJLinkPassword):
            async with link(sim, password):
                pass
