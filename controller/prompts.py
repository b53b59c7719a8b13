"""Technician prompts: a routine asks, a person answers — on the API, or at the terminal
that started the routine — or nobody does before the prompt's timeout.

A prompt never hangs a routine: ``ask`` returns ``unanswered`` when its time is up, and
the routine decides what that means (a playbook escalates; a damage check is recorded
as not confirmed). Each question and answer goes on the bus (kind ``prompt``), so pages
and the CLI can show what is waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Answer(StrEnum):
    CONFIRMED = "confirmed"    # done / yes
    DECLINED = "declined"      # could not be done / no
    UNANSWERED = "unanswered"  # nobody answered within the timeout


@dataclass
class Reply:
    answer: Answer
    by: str | None = None
    note: str | None = None
    at: datetime | None = None


@dataclass
class Prompt:
    id: str
    room: str
    message: dict[str, str]
    timeout: float
    asked_at: datetime
    context: dict[str, Any]
    future: asyncio.Future = field(repr=False)

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "room": self.room, "message": self.message, "timeout_s": self.timeout,
                "asked_at": self.asked_at.isoformat(), **{k: v for k, v in self.context.items() if k != "id"}}


# A responder answers prompts where it is: the terminal of `roomctl playbook run --config`.
Responder = Callable[[Prompt], Awaitable[Reply | None]]


class Prompts:
    def __init__(self, bus, clock) -> None:
        self._bus = bus
        self._clock = clock
        self._pending: dict[str, Prompt] = {}
        self._responders: list[Responder] = []
        self._ids = itertools.count(1)

    def add_responder(self, responder: Responder) -> Callable[[], None]:
        """Answer prompts at a terminal too; returns what removes it."""
        self._responders.append(responder)
        return lambda: self._responders.remove(responder) if responder in self._responders else None

    def pending(self, *, room: str | None = None) -> list[Prompt]:
        return [p for p in self._pending.values() if room is None or p.room == room]

    def get(self, prompt_id: str) -> Prompt | None:
        return self._pending.get(prompt_id)

    def open(self, room: str, message: dict[str, str], *, timeout: float, actor: str,
             context: dict[str, Any] | None = None) -> Prompt:
        """Put a question up (answerable at once); ``wait`` announces it and waits for the answer.

        Opening first lets a routine record the prompt's id before anyone hears of it."""
        prompt = Prompt(id=f"{next(self._ids)}-{uuid.uuid4().hex[:8]}", room=room, message=message, timeout=timeout,
                        asked_at=self._clock.now(), context=dict(context or {}),
                        future=asyncio.get_running_loop().create_future())
        self._pending[prompt.id] = prompt
        return prompt

    async def wait(self, prompt: Prompt, *, actor: str) -> Reply:
        """Announce the question (kind ``prompt`` on the bus) and wait for the answer, or ``unanswered``
        once the prompt's timeout (real seconds) has passed."""
        self._bus.publish("prompt", room=prompt.room, actor=actor, data={"event": "asked", **prompt.view()})
        helpers = [asyncio.create_task(self._from_responder(responder, prompt)) for responder in list(self._responders)]
        try:
            async with asyncio.timeout(prompt.timeout):
                reply = await asyncio.shield(prompt.future)
        except TimeoutError:
            reply = Reply(Answer.UNANSWERED, at=self._clock.now())
        finally:
            self._pending.pop(prompt.id, None)
            if not prompt.future.done():
                prompt.future.cancel()
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        self._bus.publish("prompt", room=prompt.room, actor=reply.by or actor,
                          data={"event": reply.answer.value, "id": prompt.id, "note": reply.note})
        return reply

    async def ask(self, room: str, message: dict[str, str], *, timeout: float, actor: str,
                  context: dict[str, Any] | None = None) -> Reply:
        """Ask and wait, at most ``timeout`` real seconds, for an answer."""
        prompt = self.open(room, message, timeout=timeout, actor=actor, context=context)
        return await self.wait(prompt, actor=actor)

    def answer(self, prompt_id: str, *, confirmed: bool, by: str, note: str | None = None) -> bool:
        """Answer a waiting prompt; False when it is not waiting any more (answered, timed out)."""
        prompt = self._pending.get(prompt_id)
        if prompt is None or prompt.future.done():
            return False
        prompt.future.set_result(Reply(Answer.CONFIRMED if confirmed else Answer.DECLINED, by=by, note=note,
                                       at=self._clock.now()))
        return True

    async def _from_responder(self, responder: Responder, prompt: Prompt) -> None:
        reply = await responder(prompt)
        if reply is not None and not prompt.future.done():
            prompt.future.set_result(reply)
