"""The room's heat balance: numbers a technician can check against experience."""

import math

import pytest

from simulators.thermal import Conditions, RoomModel, Room, advance, latest_start, time_to_reach

MODEL = RoomModel()  # 1.5 MJ/K, 120 W/K, 5 kW unit, 75 W a person


def test_the_room_time_constant_is_hours_not_minutes():
    assert MODEL.time_constant == pytest.approx(12_500)  # 3.5 h


def test_an_empty_room_at_30_degrees_needs_about_40_minutes_to_reach_23():
    # equilibrium at full cooling: 32 − 5000/120 = −9.67 °C; t = τ·ln((30+9.67)/(23+9.67))
    expected = 12_500 * math.log((30 + 9.6667) / (23 + 9.6667))
    assert time_to_reach(30, 23, outside=32) == pytest.approx(expected, rel=1e-4)
    assert time_to_reach(30, 23, outside=32) == pytest.approx(2427, abs=1)


def test_people_slow_it_down_and_a_packed_room_beats_the_unit():
    assert time_to_reach(30, 23, outside=32, people=30) == pytest.approx(5093, abs=1)  # 2.25 kW of people
    assert time_to_reach(30, 23, outside=32, people=60) is None  # 4.5 kW: holds only 27.8 °C


def test_how_early_must_the_ac_start_to_reach_23_by_t_minus_30():
    meeting = 10 * 3600  # 10:00, seconds since midnight
    start = latest_start(meeting - 30 * 60, 30, 23, outside=32)
    assert start == pytest.approx(meeting - 30 * 60 - 2427, abs=1)  # 8:49:33
    assert latest_start(meeting, 30, 23, outside=32, people=60) is None


def test_heating_works_the_same_way_from_a_cold_morning():
    assert time_to_reach(15, 21, outside=5) == pytest.approx(12_500 * math.log((15 - 46.667) / (21 - 46.667)), rel=1e-4)


def test_a_running_unit_reaches_the_setpoint_then_holds_it_at_the_power_that_balances_the_room():
    step = advance(30, 3600, Conditions(outside=32, mode="cool", setpoint=23))
    assert step.temperature == 23
    assert step.unit_power == pytest.approx(120 * (23 - 32))  # −1080 W
    assert step.action == "cooling"


def test_the_answer_does_not_depend_on_how_often_the_clock_is_read():
    conditions = Conditions(outside=32, people=10, mode="cool", setpoint=23)
    once = advance(30, 1800, conditions).temperature
    stepped = 30.0
    for _ in range(180):
        stepped = advance(stepped, 10, conditions).temperature
    assert stepped == pytest.approx(once, abs=1e-9)


def test_left_alone_the_room_drifts_toward_outside_by_63_percent_in_one_time_constant():
    drifted = advance(20, MODEL.time_constant, Conditions(outside=32)).temperature
    assert drifted == pytest.approx(20 + 12 * (1 - math.exp(-1)), abs=1e-9)


def test_people_warm_an_unconditioned_room():
    empty = advance(24, 3600, Conditions(outside=24)).temperature
    full = advance(24, 3600, Conditions(outside=24, people=40)).temperature
    assert empty == pytest.approx(24)
    assert full > 25.5  # 3 kW into 1.5 MJ/K for an hour, less what leaks out


def test_a_room_follows_its_clock():
    now = [0.0]
    room = Room(lambda: now[0], temperature=30, outside=32)
    room.change(mode="cool", setpoint=23)
    now[0] = 2427
    assert room.temperature == pytest.approx(23, abs=0.01)
    room.change(mode="off")
    now[0] += 12_500
    assert room.temperature == pytest.approx(23 + 9 * (1 - math.exp(-1)), abs=0.01)
