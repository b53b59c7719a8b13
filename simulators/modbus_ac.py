"""An air-conditioning unit behind a Modbus RTU gateway, on a pseudo-terminal.

The Modbus side is pymodbus's own RTU server (``ModbusSerialServer`` with a
``SimDevice`` whose action computes the registers from the room model), so what the
driver talks to is a complete, independent Modbus implementation, not our codec.

A pymodbus server opens its port by path, and so does the driver: one pty has only
one path (its slave side). So the simulator makes two ptys and joins their master
sides, as a null-modem cable does (``socat pty pty``): the server opens one slave,
the driver the other (``endpoint()``), and the bytes between them cross the "RS-485
wire" in this process. The wire is where the link faults live — silence, noise,
a pulled cable — and it is paced at the line's baud rate, because a pty delivers
instantly whatever speed is set on it.

The unit: power, mode, fan speed, setpoint, room temperature (simulators.thermal on the
injected clock) and an alarm code, in holding registers whose numbers and codes come
from the device's config (``registers``, ``mode_codes``, ``fan_codes``,
``temperature_scale``) with the same defaults as the gateway layout the docs describe.
Device faults ``fan``, ``over_temperature`` and ``filter`` raise alarm codes 5, 7, 9.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import time
import tty
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.base import Simulator
from simulators.faults import Fault
from simulators.thermal import Room

log = logging.getLogger(__name__)
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # it logs every unanswered request; faults are on purpose here

DEFAULT_REGISTERS = {"power": 0, "mode": 1, "fan_speed": 2, "setpoint": 3, "room_temperature": 4, "alarm": 5}
DEFAULT_MODE_CODES = {"cool": 0, "heat": 1, "auto": 2, "dry": 3, "fan": 4}
DEFAULT_FAN_CODES = {"low": 0, "medium": 1, "high": 2, "auto": 3}
ALARMS = {Fault.FAN: 5, Fault.OVER_TEMPERATURE: 7, Fault.FILTER: 9}
SETPOINT_LIMITS = (16.0, 30.0)
READ_ONLY = ("room_temperature", "alarm")


class AirConditioner:
    """The indoor unit's controls and its room."""

    def __init__(self, clock, *, temperature: float = 28.0, outside: float = 32.0, people: int = 0) -> None:
        self.clock = clock
        self.initial = dict(temperature=temperature, outside=outside, people=people)
        self.reset()

    def reset(self) -> None:
        self.room = Room(self.clock, **self.initial)
        self.on, self.mode, self.fan, self.setpoint = False, "cool", "auto", 24.0
        self._sync()

    def _sync(self) -> None:
        self.room.change(mode=self.mode if self.on else "off", setpoint=self.setpoint)

    def set(self, **controls: Any) -> None:
        for key, value in controls.items():
            setattr(self, key, value)
        self._sync()


class ModbusAcSimulator(Simulator):
    protocol = "modbus_ac"
    transport = "pty"
    description = "an air-conditioning unit behind a Modbus RTU gateway, on a pty"

    def __init__(self, *, unit_id: int = 1, baudrate: int = 9600, registers: dict[str, int] | None = None,
                 mode_codes: dict[str, int] | None = None, fan_codes: dict[str, int] | None = None,
                 temperature_scale: float = 10.0, clock=time.monotonic, **room: Any) -> None:
        super().__init__(clock=clock)
        self.unit_id = unit_id
        self.baudrate = baudrate
        self.byte_time = 10 / baudrate  # 8N1: start, 8 data, stop
        self.registers = {**DEFAULT_REGISTERS, **(registers or {})}
        self.mode_codes = mode_codes or dict(DEFAULT_MODE_CODES)
        self.fan_codes = fan_codes or dict(DEFAULT_FAN_CODES)
        self.scale = temperature_scale
        self.unit = AirConditioner(clock, **room)
        self.first = min(self.registers.values())
        self.count = max(self.registers.values()) - self.first + 1
        self.requests = 0
        self.writes = 0  # write requests that reached the unit
        self._server: ModbusSerialServer | None = None
        self._fds: list[int] = []
        self._masters: tuple[int, int] | None = None
        self._path = ""
        self._outbox: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._reboot_until = 0.0

    # --- the unit as registers -------------------------------------------------------

    def _register_values(self) -> dict[str, int]:
        alarm = next((code for fault, code in ALARMS.items() if fault in self.faults), 0)
        return {
            "power": 1 if self.unit.on else 0,
            "mode": self.mode_codes[self.unit.mode],
            "fan_speed": self.fan_codes[self.unit.fan],
            "setpoint": round(self.unit.setpoint * self.scale) & 0xFFFF,
            "room_temperature": round(self.unit.room.temperature * self.scale) & 0xFFFF,
            "alarm": alarm,
        }

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      current: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """pymodbus calls this on every access: reads see the model, writes change it."""
        self.requests += 1
        names = {number: name for name, number in self.registers.items()}
        values = self._register_values()
        if set_values is None:
            for i in range(len(current)):
                name = names.get(start_address + i)
                current[i] = values[name] if name else 0
            return None
        self.writes += 1
        changes: dict[str, Any] = {}
        modes = {code: mode for mode, code in self.mode_codes.items()}
        fans = {code: fan for fan, code in self.fan_codes.items()}
        for offset, value in enumerate(set_values):
            name = names.get(address + offset)
            if name is None or name in READ_ONLY:
                return ExcCodes.ILLEGAL_ADDRESS
            value = int(value)
            if name == "power" and value in (0, 1):
                changes["on"] = value == 1
            elif name == "mode" and value in modes:
                changes["mode"] = modes[value]
            elif name == "fan_speed" and value in fans:
                changes["fan"] = fans[value]
            elif name == "setpoint" and SETPOINT_LIMITS[0] <= value / self.scale <= SETPOINT_LIMITS[1]:
                changes["setpoint"] = value / self.scale
            else:
                return ExcCodes.ILLEGAL_VALUE
        self.unit.set(**changes)
        return None

    # --- lifecycle ------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self._path

    def endpoint(self) -> dict[str, Any]:
        return {"serial_port": self._path}

    async def start(self) -> None:
        server_master, server_slave = self._open_pty()
        device_master, device_slave = self._open_pty()
        self._masters = (server_master, device_master)
        self._path = os.ttyname(device_slave)
        device = SimDevice(
            self.unit_id,
            simdata=[SimData(self.first, count=self.count, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        self._server = ModbusSerialServer(device, port=os.ttyname(server_slave), baudrate=self.baudrate)
        await self._server.serve_forever(background=True)
        loop = asyncio.get_running_loop()
        loop.add_reader(device_master, self._from_driver)
        loop.add_reader(server_master, self._from_unit)
        self._writer = asyncio.create_task(self._wire(), name="modbus-ac wire")

    def _open_pty(self) -> tuple[int, int]:
        master, slave = os.openpty()
        tty.setraw(slave)  # bytes as on a wire: no echo, no line discipline
        os.set_blocking(master, False)
        self._fds += [master, slave]
        return master, slave

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
            self._writer = None
        if self._masters is not None:
            loop = asyncio.get_running_loop()
            for fd in self._masters:
                loop.remove_reader(fd)
            self._masters = None
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.shutdown()
            self._server = None
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    # --- the wire between the two ptys ---------------------------------------------

    def _silent(self) -> bool:
        return Fault.DISCONNECT in self.faults or time.monotonic() < self._reboot_until

    def _read(self, fd: int) -> bytes:
        try:
            return os.read(fd, 1024)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:  # EIO: nobody holds the other side open
            return b""

    def _from_driver(self) -> None:
        data = self._read(self._masters[1])
        if data and not self._silent():
            self._outbox.put_nowait((self._masters[0], data))

    def _from_unit(self) -> None:
        data = self._read(self._masters[0])
        if not data or self._silent() or Fault.NO_REPLY in self.faults:
            return
        if Fault.GARBLED in self.faults:
            data = bytes(b ^ 0x5A for b in data)  # line noise: the CRC no longer matches
        self._outbox.put_nowait((self._masters[1], data))

    async def _wire(self) -> None:
        """Deliver bytes one character time apart, replies ``delay`` late under slow_reply."""
        while True:
            fd, data = await self._outbox.get()
            if fd == self._masters[1] and Fault.SLOW_REPLY in self.faults:
                await asyncio.sleep(self.faults.params["delay"])
            await asyncio.sleep(len(data) * self.byte_time)
            if self._masters is None:
                return
            with contextlib.suppress(OSError):
                os.write(fd, data)

    # --- faults and scenarios ---------------------------------------------------------

    def on_fault(self, fault: Fault) -> None:
        if fault is Fault.REBOOT:
            self.faults.clear(Fault.REBOOT)
            self._reboot_until = time.monotonic() + self.faults.params["reboot_time"]
            self.unit.reset()

    def set_people(self, people: int) -> None:
        self.unit.room.change(people=people)

    def set_outside(self, celsius: float) -> None:
        self.unit.room.change(outside=celsius)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--unit-id", type=int, default=1)
        parser.add_argument("--baudrate", type=int, default=9600)
        parser.add_argument("--temperature", type=float, default=28.0, help="room °C at start")
        parser.add_argument("--outside", type=float, default=32.0, help="outside °C")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock=time.monotonic) -> "ModbusAcSimulator":
        room = {k: float(options[k]) for k in ("temperature", "outside") if options.get(k) is not None}
        if options.get("people") is not None:
            room["people"] = int(options["people"])
        return cls(
            unit_id=int(options.get("unit_id") or 1), baudrate=int(options.get("baudrate") or 9600),
            registers=options.get("registers"), mode_codes=options.get("mode_codes"),
            fan_codes=options.get("fan_codes"), temperature_scale=float(options.get("temperature_scale") or 10.0),
            clock=clock, **room,
        )
