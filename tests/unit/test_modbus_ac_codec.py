"""The AC gateway's register map as data: registers in, typed state out, and back."""

import pytest
from pydantic import ValidationError

from drivers.capabilities import FanSpeed, HvacAction, HvacMode, Power
from drivers.climate.modbus_ac import ModbusAcOptions, action_for, decode_block, encode_fan, encode_mode, encode_setpoint
from drivers.errors import ProtocolError

OPTIONS = ModbusAcOptions()  # power 0, mode 1, fan 2, setpoint 3, room 4, alarm 5; °C × 10


def test_a_running_unit_block():
    state = decode_block([1, 0, 2, 230, 265, 0], OPTIONS)
    assert state["power"] is Power.ON and state["hvac_mode"] is HvacMode.COOL
    assert state["fan_speed"] is FanSpeed.HIGH
    assert (state["setpoint"], state["temperature"]) == (23.0, 26.5)
    assert not state["alarm"].active
    assert action_for(state) is HvacAction.COOLING


def test_a_unit_that_is_off_shows_mode_off_and_below_zero_rooms_read_signed():
    state = decode_block([0, 1, 3, 210, 0xFFEC, 9], OPTIONS)  # −2.0 °C: two's complement
    assert state["hvac_mode"] is HvacMode.OFF and state["temperature"] == -2.0
    assert state["alarm"].code == 9 and state["alarm"].description == "filter needs cleaning"


@pytest.mark.parametrize("registers, problem", [
    ([2, 0, 0, 230, 250, 0], "power register"),
    ([1, 9, 0, 230, 250, 0], "mode register"),
    ([1, 0, 7, 230, 250, 0], "fan register"),
    ([1, 0, 0, 230, 250], "expected 6 registers"),
])
def test_registers_that_make_no_sense_are_protocol_errors(registers, problem):
    with pytest.raises(ProtocolError, match=problem):
        decode_block(registers, OPTIONS)


def test_commands_become_register_writes():
    assert encode_setpoint(22.5, OPTIONS) == (3, 225)
    assert encode_mode(HvacMode.HEAT, OPTIONS) == [(1, 1), (0, 1)]  # mode first, then power on
    assert encode_mode(HvacMode.OFF, OPTIONS) == [(0, 0)]
    assert encode_fan(FanSpeed.AUTO, OPTIONS) == (2, 3)


def test_another_gateways_map_is_just_config():
    options = ModbusAcOptions(registers={"power": 100, "mode": 101, "fan_speed": 102, "setpoint": 103,
                                         "room_temperature": 110, "alarm": 111},
                              temperature_scale=1, mode_codes={"cool": 1, "heat": 4, "fan": 3})
    block = [0] * 12
    block[0], block[1], block[3], block[10] = 1, 4, 21, 19
    state = decode_block(block, options)
    assert (state["hvac_mode"], state["setpoint"], state["temperature"]) == (HvacMode.HEAT, 21.0, 19.0)


@pytest.mark.parametrize("bad", [
    {"mode_codes": {"cool": 0, "heat": 0}},
    {"registers": {"power": 0, "mode": 0}},
    {"registers": {"alarm": 500}},
    {"mode_codes": {"off": 0}},
])
def test_inconsistent_maps_are_config_errors(bad):
    with pytest.raises(ValidationError):
        ModbusAcOptions(**bad)
