"""An air-conditioning unit behind a Modbus RTU gateway on RS-485 (pymodbus).

Building VRF/split systems are reached through gateways that map each indoor unit to a
block of Modbus registers. The map differs by gateway, so it is data: the device's
``options.registers`` (register numbers), ``mode_codes``/``fan_codes`` (what number
means which mode) and ``temperature_scale`` (°C × 10 is usual). The defaults describe a
common layout — one block of holding registers per unit: on/off, mode, fan, setpoint,
room temperature, alarm code — and are a starting point, not any one vendor's table.

The codec half is pure: ``decode_block`` turns the registers read into typed state,
``encode_*`` turns a validated command into (register, value). The device half reads
the block in one request, writes one register per command and confirms it by reading
it back: the unit's own register, not the command, is the state.

pymodbus opens the port itself (asyncio, on the file descriptor); this driver takes
the port and line settings from the serial transport the runtime built for it.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ExceptionResponse

from drivers.capabilities import (
    Alarm,
    FanSpeed,
    HasAlarms,
    HasFanSpeed,
    HasHvacMode,
    HasPower,
    HasSetpoint,
    HasTemperature,
    HvacAction,
    HvacMode,
    Power,
    SetpointRange,
)
from drivers.device import Device, TransportSpec
from drivers.errors import DeviceRejected, DeviceTimeout, DeviceUnreachable, InvalidCommand, ProtocolError

log = logging.getLogger(__name__)
# pymodbus logs each unanswered request with a dump of recent frames; the supervisor already
# turns those into a status and a reason, once.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

# Modbus exception codes (Modbus Application Protocol v1.1b3, §7).
EXCEPTIONS = {1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "server device failure",
              5: "acknowledge", 6: "server device busy", 10: "gateway path unavailable",
              11: "gateway target device failed to respond"}


class RegisterMap(BaseModel):
    """Holding-register numbers (0-based protocol addresses) of one indoor unit."""

    model_config = ConfigDict(extra="forbid")

    power: int = Field(0, ge=0, le=65535)
    mode: int = Field(1, ge=0, le=65535)
    fan_speed: int = Field(2, ge=0, le=65535)
    setpoint: int = Field(3, ge=0, le=65535)
    room_temperature: int = Field(4, ge=0, le=65535)
    alarm: int = Field(5, ge=0, le=65535)

    def span(self) -> tuple[int, int]:
        """First register and count of the block that holds them all (read in one request)."""
        numbers = list(self.model_dump().values())
        return min(numbers), max(numbers) - min(numbers) + 1


class ModbusAcOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int = Field(1, ge=1, le=247, description="Modbus slave address of the gateway/unit")
    parity: str = Field("N", pattern="^[NEO]$")
    stopbits: int = Field(1, ge=1, le=2)
    registers: RegisterMap = Field(default_factory=RegisterMap)
    temperature_scale: float = Field(10.0, gt=0, description="register value = °C × scale")
    mode_codes: dict[HvacMode, int] = Field(
        default_factory=lambda: {HvacMode.COOL: 0, HvacMode.HEAT: 1, HvacMode.AUTO: 2, HvacMode.DRY: 3,
                                 HvacMode.FAN: 4}
    )
    fan_codes: dict[FanSpeed, int] = Field(
        default_factory=lambda: {FanSpeed.LOW: 0, FanSpeed.MEDIUM: 1, FanSpeed.HIGH: 2, FanSpeed.AUTO: 3}
    )
    alarm_codes: dict[int, str] = Field(
        default_factory=lambda: {5: "indoor fan motor", 7: "compressor over-temperature", 9: "filter needs cleaning"},
        description="what the unit's alarm numbers mean; 0 is no alarm",
    )
    setpoint_min: float = Field(16.0, ge=-10, le=50)
    setpoint_max: float = Field(30.0, ge=-10, le=50)
    setpoint_step: float = Field(0.5, gt=0, le=5)

    @model_validator(mode="after")
    def _consistent(self) -> "ModbusAcOptions":
        if len(set(self.mode_codes.values())) != len(self.mode_codes):
            raise ValueError("two modes share a code in mode_codes")
        if len(set(self.fan_codes.values())) != len(self.fan_codes):
            raise ValueError("two fan speeds share a code in fan_codes")
        if HvacMode.OFF in self.mode_codes:
            raise ValueError("off is the power register, not a mode code")
        if self.setpoint_min >= self.setpoint_max:
            raise ValueError("setpoint_min must be below setpoint_max")
        if len(set(self.registers.model_dump().values())) != len(self.registers.model_dump()):
            raise ValueError("two values share a register")
        if self.registers.span()[1] > 125:
            raise ValueError("the registers must fit one read (125 registers, Modbus §6.3)")
        return self


# --- codec ------------------------------------------------------------------------------


def signed(value: int) -> int:
    """A 16-bit register as two's complement (room temperatures go below zero)."""
    return value - 0x10000 if value & 0x8000 else value


def decode_block(registers: list[int], options: ModbusAcOptions) -> dict[str, Any]:
    """The unit's block of registers → typed state values."""
    first, count = options.registers.span()
    if len(registers) != count:
        raise ProtocolError(f"expected {count} registers, got {len(registers)}")
    at = {name: registers[number - first] for name, number in options.registers.model_dump().items()}
    if at["power"] not in (0, 1):
        raise ProtocolError(f"power register holds {at['power']}, not 0/1")
    modes = {code: mode for mode, code in options.mode_codes.items()}
    fans = {code: speed for speed, code in options.fan_codes.items()}
    if at["mode"] not in modes:
        raise ProtocolError(f"mode register holds unknown code {at['mode']}")
    if at["fan_speed"] not in fans:
        raise ProtocolError(f"fan register holds unknown code {at['fan_speed']}")
    scale = options.temperature_scale
    on = at["power"] == 1
    mode = modes[at["mode"]]
    alarm_code = at["alarm"]
    return {
        "power": Power.ON if on else Power.OFF,
        "hvac_mode": mode if on else HvacMode.OFF,
        "fan_speed": fans[at["fan_speed"]],
        "setpoint": round(signed(at["setpoint"]) / scale, 2),
        "temperature": round(signed(at["room_temperature"]) / scale, 2),
        "alarm": Alarm(code=alarm_code, description=options.alarm_codes.get(alarm_code) if alarm_code else None),
    }


def encode_setpoint(celsius: float, options: ModbusAcOptions) -> tuple[int, int]:
    value = round(celsius * options.temperature_scale)
    if not -0x8000 <= value <= 0x7FFF:
        raise InvalidCommand(f"{celsius} °C does not fit a register", field="celsius")
    return options.registers.setpoint, value & 0xFFFF


def encode_mode(mode: HvacMode, options: ModbusAcOptions) -> list[tuple[int, int]]:
    """Off is the power register; any other mode is the mode register, then power on."""
    if mode == HvacMode.OFF:
        return [(options.registers.power, 0)]
    if mode not in options.mode_codes:
        raise InvalidCommand(f"this unit has no {mode} mode", field="mode")
    return [(options.registers.mode, options.mode_codes[mode]), (options.registers.power, 1)]


def encode_fan(speed: FanSpeed, options: ModbusAcOptions) -> tuple[int, int]:
    if speed not in options.fan_codes:
        raise InvalidCommand(f"this unit has no {speed} fan speed", field="speed")
    return options.registers.fan_speed, options.fan_codes[speed]


def action_for(state: dict[str, Any]) -> HvacAction:
    """What the unit is doing, inferred from mode and room vs setpoint (units rarely report it)."""
    mode, room, target = state.get("hvac_mode"), state.get("temperature"), state.get("setpoint")
    if mode in (None, HvacMode.OFF):
        return HvacAction.OFF
    if mode == HvacMode.FAN:
        return HvacAction.FAN
    if room is None or target is None:
        return HvacAction.IDLE
    if mode in (HvacMode.COOL, HvacMode.DRY, HvacMode.AUTO) and room > target:
        return HvacAction.COOLING
    if mode in (HvacMode.HEAT, HvacMode.AUTO) and room < target:
        return HvacAction.HEATING
    return HvacAction.IDLE


# --- device -----------------------------------------------------------------------------


class ModbusAirConditioner(Device, HasPower, HasTemperature, HasSetpoint, HasHvacMode, HasFanSpeed, HasAlarms):
    driver: ClassVar[str] = "modbus_ac"
    transport_spec: ClassVar[TransportSpec] = TransportSpec("serial", baudrate=9600)
    Options: ClassVar = ModbusAcOptions
    options: ModbusAcOptions

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        self._client: AsyncModbusSerialClient | None = None

    # --- connection ---------------------------------------------------------------

    async def connect(self) -> None:
        settings = getattr(self.transport, "settings", {})
        client = AsyncModbusSerialClient(
            self.transport.port,
            framer=FramerType.RTU,
            baudrate=settings.get("baudrate", 9600),
            parity=self.options.parity,
            stopbits=self.options.stopbits,
            timeout=self.timeout,
            retries=0,  # the supervisor decides what a missing answer means
            reconnect_delay=0,  # and when to reconnect
            name=self.id,
        )
        if not await client.connect():
            client.close()
            raise DeviceUnreachable(f"cannot open {self.transport.port}")
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # --- requests -------------------------------------------------------------------

    def _live(self) -> AsyncModbusSerialClient:
        if self._client is None or not self._client.connected:
            raise DeviceUnreachable(f"{self.transport.port} is not open")
        return self._client

    async def _call(self, what: str, request) -> Any:
        try:
            reply = await request
        except ModbusException as exc:
            # pymodbus reports "no answer in time" and "answer failed its CRC" alike.
            raise DeviceTimeout(what, self.timeout) from exc
        if isinstance(reply, ExceptionResponse) or reply.isError():
            code = getattr(reply, "exception_code", 0)
            raise DeviceRejected(what, f"exception {code} ({EXCEPTIONS.get(code, 'unknown')})")
        return reply

    async def read_block(self) -> dict[str, Any]:
        first, count = self.options.registers.span()
        reply = await self._call(
            f"read registers {first}+{count}",
            self._live().read_holding_registers(first, count=count, device_id=self.options.unit_id),
        )
        return decode_block(list(reply.registers), self.options)

    async def write(self, register: int, value: int) -> None:
        await self._call(f"write register {register}", self._live().write_register(register, value,
                                                                                    device_id=self.options.unit_id))

    async def write_confirmed(self, writes: list[tuple[int, int]]) -> None:
        for register, value in writes:
            await self.write(register, value)
        reply = await self._call("read back", self._live().read_holding_registers(
            self.options.registers.span()[0], count=self.options.registers.span()[1], device_id=self.options.unit_id))
        first = self.options.registers.span()[0]
        for register, value in writes:
            if reply.registers[register - first] != value:
                raise DeviceRejected(f"write register {register}",
                                     f"reads back {reply.registers[register - first]}, not {value}")
        self._apply(decode_block(list(reply.registers), self.options))

    def _apply(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            self._set(key, value)
        self._set("hvac_action", action_for(self.state))

    async def poll(self) -> None:
        self._apply(await self.read_block())

    def fault_reason(self) -> str | None:
        alarm = self.state.get("alarm")
        if alarm is not None and alarm.active:
            return f"alarm {alarm.code}" + (f": {alarm.description}" if alarm.description else "")
        return super().fault_reason()

    # --- capabilities ---------------------------------------------------------------

    def setpoint_range(self) -> SetpointRange:
        o = self.options
        return SetpointRange(minimum=o.setpoint_min, maximum=o.setpoint_max, step=o.setpoint_step)

    def hvac_modes(self) -> tuple[HvacMode, ...]:
        return (HvacMode.OFF, *self.options.mode_codes)

    async def set_power(self, on: bool) -> None:
        await self.write_confirmed([(self.options.registers.power, 1 if on else 0)])

    async def set_setpoint(self, celsius: float) -> None:
        await self.write_confirmed([encode_setpoint(celsius, self.options)])

    async def set_hvac_mode(self, mode: HvacMode) -> None:
        await self.write_confirmed(encode_mode(mode, self.options))

    async def set_fan_speed(self, speed: FanSpeed) -> None:
        await self.write_confirmed([encode_fan(speed, self.options)])
