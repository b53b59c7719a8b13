"""The shape every MQTT device driver shares: subscribe, read reports, confirm commands.

An MQTT device does not answer requests on a kept connection the way a projector
does: it publishes reports when it likes, announces its availability (a retained
message, often a last will) and takes commands on a topic. So the driver here

- subscribes to the device's topics before acting on anything it hears, and takes the
  retained messages that arrive first as last-known state, not as news;
- reads every report on one task and updates ``state`` from the device's own words;
  a report that does not parse is a ``ProtocolError``: counted by kind, logged once per
  kind, dropped — never a crash, never half-applied;
- confirms a command by waiting for the device's report that shows it (``confirm``),
  with the device's timeout; a command is never assumed to have worked;
- is offline when the device says it is (availability, last will), when the broker
  connection is lost, or when a read-back goes unanswered — and tells its supervisor
  at once (``request_attention``) instead of waiting for the next heartbeat.

A driver subclass names its topics, parses its payloads (a pure codec) and sends its
commands; everything above is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from drivers.device import Device, TransportSpec
from drivers.errors import DeviceError, DeviceTimeout, DeviceUnreachable, ProtocolError
from drivers.transports.base import Message, MessageTransport

log = logging.getLogger(__name__)


@dataclass
class MessageStats:
    reports: int = 0  # fresh (not retained) reports that parsed
    retained: int = 0  # retained reports taken as last-known state
    malformed: dict[str, int] = field(default_factory=dict)  # by kind: "not JSON", "brightness out of range"...
    last_error: str | None = None

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())


class MqttDevice(Device):
    transport_spec: ClassVar[TransportSpec] = TransportSpec("mqtt")
    transport: MessageTransport

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        self.stats = MessageStats()
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Condition()
        self._unavailable: str | None = None  # why the device (or its bridge) says it is offline
        self._lost: DeviceError | None = None  # the broker connection went away

    # --- what a driver fills in ------------------------------------------------------

    @abstractmethod
    def topics(self) -> list[str]:
        """Topic filters to subscribe to, availability first."""

    @abstractmethod
    def handle(self, message: Message) -> bool:
        """Apply one message to ``state``; True if it was a state report. Raise ProtocolError if malformed."""

    @abstractmethod
    async def request_report(self) -> None:
        """Ask the device to report its state now (Zigbee2MQTT ``/get``, Tasmota ``STATE``)."""

    # --- the supervisor's calls ------------------------------------------------------

    async def connect(self) -> None:
        self._unavailable = None
        self._lost = None
        await self.transport.open()
        self._reader = asyncio.create_task(self._read_loop(), name=f"mqtt-reader {self.id}")
        for topic in self.topics():
            await self.transport.subscribe(topic)

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        await self.transport.close()

    async def probe(self) -> None:
        """Between read-backs: the device's own availability and the broker connection decide."""
        self._check_reachable()

    async def poll(self) -> None:
        """A read-back: ask for a report and wait for a fresh one."""
        self._check_reachable()
        seen = self.stats.reports
        await self.request_report()
        await self.wait_until(lambda: self.stats.reports > seen, what=f"{self.id} state report")

    # --- helpers for drivers ---------------------------------------------------------

    async def publish(self, topic: str, payload: bytes) -> None:
        self._check_reachable()
        await self.transport.publish(topic, payload, qos=1, retain=False)

    async def confirm(self, topic: str, payload: bytes, confirmed: Callable[[], bool], *, what: str) -> None:
        """Publish a command, then wait for the device's report that shows it done."""
        await self.publish(topic, payload)
        await self.wait_until(confirmed, what=what)

    async def wait_until(self, condition: Callable[[], bool], *, what: str) -> None:
        """Wait for ``condition`` over the device's reports; fail fast if it goes offline."""

        def settled() -> bool:
            return condition() or self._unavailable is not None or self._lost is not None

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(settled), self.timeout)
        except asyncio.TimeoutError:
            raise DeviceTimeout(what, self.timeout) from None
        if not condition():
            self._check_reachable()

    def set_available(self, available: bool, reason: str) -> None:
        """Record what the device (or its bridge) says about itself; offline wakes the supervisor."""
        was = self._unavailable
        self._unavailable = None if available else reason
        if was != self._unavailable:
            self.request_attention()

    def malformed(self, kind: str, exc: ProtocolError) -> None:
        self.stats.malformed[kind] = self.stats.malformed.get(kind, 0) + 1
        self.stats.last_error = str(exc)
        if self.stats.malformed[kind] == 1:  # once per kind: a device that keeps sending garbage must not flood the log
            log.warning("%s: %s", self.id, exc)

    # --- inside ----------------------------------------------------------------------

    def _check_reachable(self) -> None:
        if self._lost is not None:
            raise self._lost
        if self._unavailable is not None:
            raise DeviceUnreachable(f"{self.id}: {self._unavailable}")

    async def _read_loop(self) -> None:
        try:
            async for message in self.transport.messages():
                try:
                    report = self.handle(message)
                except ProtocolError as exc:
                    self.malformed(exc.reason, exc)
                    report = False
                if report:
                    if message.retained:
                        self.stats.retained += 1
                    else:
                        self.stats.reports += 1
                await self._notify()
        except DeviceError as exc:
            self._lost = exc
            self.request_attention()
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
