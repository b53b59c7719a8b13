"""A Zigbee thermostat or AC controller through Zigbee2MQTT.

Wire names (zigbee-herdsman-converters' climate exposes, as Zigbee2MQTT publishes them):
``local_temperature`` (°C), ``occupied_heating_setpoint`` and ``occupied_cooling_setpoint``
(°C), ``system_mode`` (off, heat, cool, auto, dry, fan_only, …) and ``running_state``
(idle, heat, cool, fan_only). roomctl says ``fan`` where Zigbee2MQTT says ``fan_only``.

The setpoint a room means is the one its mode uses: cooling in ``cool``, heating
otherwise. A unit that exposes only a heating setpoint (``cooling_setpoint: false``)
gets that one in every mode.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from drivers.capabilities import HasHvacMode, HasSetpoint, HasTemperature, HvacAction, HvacMode, SetpointRange
from drivers.zigbee2mqtt import Zigbee2MqttDevice, Zigbee2MqttOptions, number, word

MODE_TO_WIRE = {
    HvacMode.OFF: "off",
    HvacMode.HEAT: "heat",
    HvacMode.COOL: "cool",
    HvacMode.AUTO: "auto",
    HvacMode.FAN: "fan_only",
    HvacMode.DRY: "dry",
}
MODE_FROM_WIRE = {wire: mode for mode, wire in MODE_TO_WIRE.items()}
# Other system_mode words a device may report (sleep, emergency_heating) are real states we
# don't drive; they are shown as the nearest roomctl mode.
MODE_FROM_WIRE |= {"sleep": HvacMode.AUTO, "emergency_heating": HvacMode.HEAT}
ACTION_FROM_WIRE = {"idle": HvacAction.IDLE, "heat": HvacAction.HEATING, "cool": HvacAction.COOLING,
                    "fan_only": HvacAction.FAN}
TEMPERATURE_LIMITS = (-40.0, 80.0)  # a room sensor reading outside this is corruption

HEATING = "occupied_heating_setpoint"
COOLING = "occupied_cooling_setpoint"


class Zigbee2MqttThermostatOptions(Zigbee2MqttOptions):
    modes: list[HvacMode] = Field(
        default_factory=lambda: [HvacMode.OFF, HvacMode.HEAT, HvacMode.COOL, HvacMode.AUTO, HvacMode.FAN],
        min_length=1, description="system_mode values this unit accepts",
    )
    setpoint_min: float = Field(5.0, ge=-10, le=50)
    setpoint_max: float = Field(35.0, ge=-10, le=50)
    setpoint_step: float = Field(0.5, gt=0, le=5)
    cooling_setpoint: bool = Field(True, description="the unit has occupied_cooling_setpoint")

    @model_validator(mode="after")
    def _range(self) -> "Zigbee2MqttThermostatOptions":
        if self.setpoint_min >= self.setpoint_max:
            raise ValueError("setpoint_min must be below setpoint_max")
        return self


class Zigbee2MqttThermostat(Zigbee2MqttDevice, HasTemperature, HasSetpoint, HasHvacMode):
    driver: ClassVar[str] = "z2m_thermostat"
    Options: ClassVar = Zigbee2MqttThermostatOptions
    options: Zigbee2MqttThermostatOptions
    readback_keys: ClassVar[tuple[str, ...]] = ("local_temperature", "system_mode", "running_state", HEATING)

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        self.setpoints: dict[str, float] = {}

    def apply_report(self, report: dict[str, Any], payload: bytes) -> None:
        temperature = number(report, "local_temperature", *TEMPERATURE_LIMITS, payload)
        heating = number(report, HEATING, *TEMPERATURE_LIMITS, payload)
        cooling = number(report, COOLING, *TEMPERATURE_LIMITS, payload)
        mode = word(report, "system_mode", set(MODE_FROM_WIRE), payload)
        action = word(report, "running_state", set(ACTION_FROM_WIRE), payload)
        if temperature is not None:
            self._set("temperature", round(float(temperature), 2))
        if heating is not None:
            self.setpoints[HEATING] = float(heating)
        if cooling is not None:
            self.setpoints[COOLING] = float(cooling)
        if mode is not None:
            self._set("hvac_mode", MODE_FROM_WIRE[mode])
        if action is not None:
            self._set("hvac_action", HvacAction.OFF if self.state.get("hvac_mode") == HvacMode.OFF else ACTION_FROM_WIRE[action])
        if (setpoint := self.setpoints.get(self._setpoint_key())) is not None:
            self._set("setpoint", setpoint)

    def _setpoint_key(self, mode: HvacMode | None = None) -> str:
        mode = mode or self.state.get("hvac_mode")
        return COOLING if mode == HvacMode.COOL and self.options.cooling_setpoint else HEATING

    # --- capabilities ---------------------------------------------------------------

    def setpoint_range(self) -> SetpointRange:
        o = self.options
        return SetpointRange(minimum=o.setpoint_min, maximum=o.setpoint_max, step=o.setpoint_step)

    def hvac_modes(self) -> tuple[HvacMode, ...]:
        return tuple(self.options.modes)

    async def set_setpoint(self, celsius: float) -> None:
        key = self._setpoint_key()
        await self.send({key: celsius}, lambda: self.setpoints.get(key) == celsius,
                        what=f"{self.id} reporting {key} {celsius:g}")

    async def set_hvac_mode(self, mode: HvacMode) -> None:
        await self.send({"system_mode": MODE_TO_WIRE[mode]}, lambda: self.state.get("hvac_mode") == mode,
                        what=f"{self.id} reporting system_mode {MODE_TO_WIRE[mode]}")
