"""The device contract every driver fills in.

A driver module defines a pure codec and a ``Device`` subclass. The subclass declares
its name, the transport it rides on, its options and (by inheriting capability
interfaces) what it can do; it implements connect/poll/close and the capability
methods. It never owns a loop or a timer: its ``Supervisor`` drives it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python

from drivers.capabilities import Command, HasErrorStatus, Level, capability_names
from drivers.errors import DeviceBusy, DeviceTimeout

log = logging.getLogger(__name__)
T = TypeVar("T")

# How often a command refused as "busy" (warming up, cooling down) is tried again.
BUSY_RETRY_INTERVAL = 1.0


@dataclass(frozen=True)
class TransportSpec:
    """What a driver rides on; the runtime builds the transport from the device's config."""

    kind: Literal["tcp", "serial", "udp", "mqtt"]
    default_port: int | None = None  # TCP/UDP
    baudrate: int = 9600  # serial: 8N1 unless the options say otherwise


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


StateListener = Callable[[str, Any], None]


class Device(ABC):
    driver: ClassVar[str]
    transport_spec: ClassVar[TransportSpec]
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, device_id: str, transport, *, options: BaseModel | None = None, timeout: float = 2.0) -> None:
        self.id = device_id
        self.transport = transport
        self.options = options if options is not None else self.Options()
        self.timeout = timeout
        self.state: dict[str, Any] = {}
        self._listeners: list[StateListener] = []
        self._attention: Callable[[], None] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "driver" in cls.__dict__:
            from drivers.registry import register  # late: the registry imports this module

            register(cls)

    # --- what the supervisor drives -------------------------------------------------

    @abstractmethod
    async def connect(self) -> None:
        """Open the transport and do whatever handshake the protocol needs."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def poll(self) -> None:
        """Read every state the device reports and update ``state``."""

    async def probe(self) -> None:
        """A cheap request that proves the device still answers; a full poll by default."""
        await self.poll()

    async def execute(self, command: Command) -> None:
        command.check(self)
        await command.apply(self)

    def fault_reason(self) -> str | None:
        """Why the device is in ``fault`` although it answers, or None when healthy."""
        if isinstance(self, HasErrorStatus) and (errors := self.state.get("errors")) is not None:
            failed = [name for name, level in errors.problems().items() if level is Level.ERROR]
            if failed:
                return "reports an error: " + ", ".join(failed)
        return None

    def on_attention(self, callback: Callable[[], None]) -> None:
        """Who to tell when the device learns of a change by itself (a last will, a report)."""
        self._attention = callback

    def request_attention(self) -> None:
        """Ask the supervisor to look now rather than at its next heartbeat."""
        if self._attention is not None:
            self._attention()

    # --- state ----------------------------------------------------------------------

    @property
    def capabilities(self) -> list[str]:
        return capability_names(self)

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def _set(self, key: str, value: Any) -> None:
        if self.state.get(key) == value and key in self.state:
            return
        self.state[key] = value
        for listener in self._listeners:
            listener(key, value)

    def snapshot(self) -> dict[str, Any]:
        return to_jsonable_python(self.state)

    # --- helpers for drivers --------------------------------------------------------

    async def retry_while_busy(self, attempt: Callable[[], Awaitable[T]], *, within: float) -> T:
        """Run ``attempt`` until the device stops answering "busy" or ``within`` seconds pass."""
        deadline = time.monotonic() + within
        while True:
            try:
                return await attempt()
            except DeviceBusy:
                if time.monotonic() + BUSY_RETRY_INTERVAL > deadline:
                    raise
                await asyncio.sleep(BUSY_RETRY_INTERVAL)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} on {getattr(self.transport, 'address', '?')}>"


__all__ = ["Device", "TransportSpec", "NoOptions", "DeviceTimeout"]
