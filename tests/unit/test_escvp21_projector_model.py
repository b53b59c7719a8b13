"""The ESC/VP21 simulator's projector model, on a clock the test moves."""

from __future__ import annotations

import argparse

import pytest

from helpers import FakeClock
from simulators.escvp21 import EscVp21Simulator, Phase, ProjectorModel
from simulators.faults import Fault, Faults


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def faults():
    return Faults()


@pytest.fixture
def projector(clock, faults):
    return ProjectorModel(clock, faults, warmup=30.0, cooldown=20.0, lamp_hours=100)


def test_power_on_warms_up_for_the_warmup_time_then_is_on(projector, clock):
    assert projector.power_on()
    assert projector.phase is Phase.WARMING_UP
    clock.advance(29.9)
    assert projector.phase is Phase.WARMING_UP
    clock.advance(0.1)
    assert projector.phase is Phase.ON


def test_power_off_cools_down_then_is_in_standby(projector, clock):
    projector.power_on()
    clock.advance(30)
    assert projector.power_off()
    assert projector.phase is Phase.COOLING_DOWN
    assert not projector.power_on()  # refused until cooled
    clock.advance(20)
    assert projector.phase is Phase.STANDBY
    assert projector.power_on()


def test_power_off_is_refused_while_the_lamp_strikes(projector, clock):
    projector.power_on()
    assert not projector.power_off()
    clock.advance(30)
    assert projector.power_off()


def test_lamp_hours_grow_only_while_the_lamp_is_lit(projector, clock):
    clock.advance(5 * 3600)  # standby
    assert projector.lamp_hours == 100
    projector.power_on()
    clock.advance(2 * 3600)
    assert projector.lamp_hours == 102
    projector.power_off()
    clock.advance(10 * 3600)
    assert projector.lamp_hours == 102


def test_source_and_mute_need_the_lamp_on_and_mute_ends_with_the_picture(projector, clock):
    assert not projector.select_source("A0")
    assert not projector.set_mute(True)
    projector.power_on()
    assert not projector.select_source("A0")  # still warming up
    clock.advance(30)
    assert projector.select_source("A0")
    assert not projector.select_source("99")  # no such input
    assert projector.set_mute(True)
    projector.power_off()
    assert not projector.muted


def test_a_shutdown_fault_puts_the_lamp_out_until_cleared(projector, clock, faults):
    projector.power_on()
    clock.advance(3600)
    faults.inject(Fault.LAMP_FAILURE)
    assert projector.phase is Phase.ABNORMAL_STANDBY
    assert projector.error_code == "06"
    assert not projector.power_on()
    clock.advance(3600)
    assert projector.lamp_hours == 101  # dark since the failure
    faults.clear()
    assert projector.phase is Phase.STANDBY
    assert projector.error_code == "00"


@pytest.mark.parametrize(
    "fault, code, lamp_stays_on",
    [
        (Fault.LAMP_FAILURE, "06", False),
        (Fault.OVER_TEMPERATURE, "04", False),
        (Fault.COVER_OPEN, "07", False),
        (Fault.FAN, "01", False),
        (Fault.FILTER, "0D", True),
    ],
)
def test_each_device_fault_has_its_error_code(projector, clock, faults, fault, code, lamp_stays_on):
    projector.power_on()
    clock.advance(30)
    faults.inject(fault)
    assert projector.error_code == code
    assert (projector.phase is Phase.ON) == lamp_stays_on


def test_reset_is_standby_with_defaults_but_keeps_the_lamps_hours(projector, clock):
    projector.power_on()
    clock.advance(30)
    projector.select_source("41")
    projector.set_mute(True)
    clock.advance(3600)
    projector.reset()
    assert (projector.phase, projector.source, projector.muted) == (Phase.STANDBY, "30", False)
    assert projector.lamp_hours == 101


def test_command_line_options_build_the_simulator(clock):
    parser = argparse.ArgumentParser()
    EscVp21Simulator.add_arguments(parser)
    options = vars(parser.parse_args(["--pty", "--warmup", "2", "--cooldown", "3"]))
    sim = EscVp21Simulator.from_options(options, clock=clock)
    assert (sim.model.warmup, sim.model.cooldown, sim.baudrate) == (2.0, 3.0, 9600)


def test_config_options_build_the_simulator(clock):
    sim = EscVp21Simulator.from_options({"warmup": 0.5, "lamp_hours": 1234, "baudrate": 19200}, clock=clock)
    assert (sim.model.warmup, sim.model.lamp_hours, sim.baudrate) == (0.5, 1234, 19200)
    assert EscVp21Simulator.from_options({}, clock=clock).model.warmup == 30.0
