"""The event bus: device state changes, status changes, commands and errors, in order.

Publishing never blocks: each subscriber has a bounded queue, and a subscriber that
falls behind loses its oldest events (counted) rather than slowing the devices down.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel

# state, status, command, error, system, scene, playbook_requested, alert...: the bus is
# open to new kinds of event; subscribers pick the kinds they know.
EventKind = str


class Event(BaseModel):
    seq: int
    at: datetime
    kind: EventKind
    room: str | None = None
    device: str | None = None
    data: dict[str, Any] = {}
    actor: str | None = None  # who caused it: a token's name, "supervisor", "demo"


class Subscription:
    def __init__(self, bus: "EventBus", limit: int) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Event] = asyncio.Queue(limit)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, clock) -> None:
        self._clock = clock
        self._seq = itertools.count(1)
        self._subscribers: set[Subscription] = set()

    def subscribe(self, limit: int = 1000) -> Subscription:
        subscription = Subscription(self, limit)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, kind: EventKind, *, room: str | None = None, device: str | None = None,
                data: dict[str, Any] | None = None, actor: str | None = None) -> Event:
        event = Event(seq=next(self._seq), at=self._clock.now(), kind=kind, room=room, device=device,
                      data=data or {}, actor=actor)
        for subscription in list(self._subscribers):
            subscription.offer(event)
        return event
