"""The pages' live socket (``/api/live``): one bus subscription for every page, each event
serialised once, then fanned out as frames to every socket that may see it.

A page connects, sends ``{"token": ...}`` as its first message (browsers cannot set a
WebSocket's headers), and gets frames: each frame is a JSON array of messages —
``hello``, ``snapshot`` (the rooms it may see, with their devices), then events
(``{"type": kind, "seq", "at", "room", "device", "data", "actor"}``) and a ``ping``
every ``PING_EVERY`` seconds so the page can tell a dead link from a quiet room.

A tablet sees its own room only. A socket that falls ``CLIENT_BACKLOG`` frames behind is
not slowed down for: its backlog is dropped and it gets a fresh snapshot instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)

# A page has this long after connecting to say who it is.
HELLO_TIMEOUT = 5.0
# Events arriving within this window after the first one go out in the same frame: at 1,000
# changes/s, a frame per change per page would be 50,000 frames/s for 50 pages; this bounds
# what the batching adds to any event's latency.
COALESCE = 0.004
# Frames a page may be behind before its backlog is replaced by a fresh snapshot.
CLIENT_BACKLOG = 256
# The bus queue of the hub itself: a second of the busiest site we measure, and then some.
BUS_BACKLOG = 20_000
# A quiet link still carries a ping this often; pages reconnect when they hear nothing for 3×.
PING_EVERY = 10.0

# What pages hear about: device changes, routines' progress, and (the console) the log.
TABLET_KINDS = frozenset({"state", "status", "scene"})
CONSOLE_KINDS = frozenset({"state", "status", "scene", "selftest", "alert", "playbook", "prompt", "monitoring",
                           "post_meeting", "schedule", "command", "error", "audit", "auth", "system"})
ROOM_ROLES = frozenset({"tablet", "technician", "admin"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def encode_event(event) -> str:
    """One event as the pages get it; done once per event, whoever listens."""
    return json.dumps({"type": event.kind, "seq": event.seq, "at": event.at.isoformat(), "room": event.room,
                       "device": event.device, "data": event.data, "actor": event.actor},
                      default=_jsonable, ensure_ascii=False, separators=(",", ":"))


def encode_frame(messages: list[str]) -> str:
    return "[" + ",".join(messages) + "]"


@dataclass(eq=False)
class LiveClient:
    websocket: WebSocket
    who: Any  # controller.auth.Caller
    rooms: frozenset[str] | None  # None: every room
    kinds: frozenset[str]
    frames: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(CLIENT_BACKLOG))
    behind: bool = False  # lost frames: owes the page a fresh snapshot

    @property
    def audience(self) -> tuple:
        return (self.rooms, self.kinds)

    def wants(self, kind: str, room: str | None) -> bool:
        return kind in self.kinds and (self.rooms is None or room in self.rooms)

    def offer(self, frame: str) -> None:
        if self.behind:
            return
        try:
            self.frames.put_nowait(frame)
        except asyncio.QueueFull:
            self.behind = True
            while not self.frames.empty():
                self.frames.get_nowait()
            self.frames.put_nowait("")  # wakes the sender, which sends a snapshot for it


class LiveHub:
    def __init__(self, controller, gate) -> None:
        self.controller = controller
        self.gate = gate
        self.clients: set[LiveClient] = set()
        self._pump: asyncio.Task | None = None
        self.frames_sent = 0

    # --- the one subscription ------------------------------------------------------------------

    def _ensure_pump(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run(), name="live hub")

    async def _stop_pump_if_idle(self) -> None:
        if not self.clients and self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None

    async def _run(self) -> None:
        with self.controller.bus.subscribe(limit=BUS_BACKLOG) as subscription:
            queue = subscription.queue
            while True:
                batch = [await queue.get()]
                await asyncio.sleep(COALESCE)  # let a burst gather into one frame (see COALESCE)
                while not queue.empty():
                    batch.append(queue.get_nowait())
                self._fan_out(batch)

    def _fan_out(self, batch: list) -> None:
        wanted = CONSOLE_KINDS | TABLET_KINDS
        encoded = [(event.kind, event.room, encode_event(event)) for event in batch if event.kind in wanted]
        if not encoded:
            return
        frames: dict[tuple, str | None] = {}
        for client in list(self.clients):
            audience = client.audience
            if audience not in frames:
                messages = [text for kind, room, text in encoded if client.wants(kind, room)]
                frames[audience] = encode_frame(messages) if messages else None
            frame = frames[audience]
            if frame is not None:
                client.offer(frame)

    # --- one page ---------------------------------------------------------------------------------

    def snapshot(self, client: LiveClient) -> str:
        rooms = [room.view() for room in self.controller.site.rooms.values()
                 if client.rooms is None or room.id in client.rooms]
        return encode_frame([json.dumps({"type": "snapshot", "rooms": rooms}, default=_jsonable, ensure_ascii=False)])

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            hello = json.loads(await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT))
            if not isinstance(hello, dict):
                raise ValueError("hello is an object")
            token = hello.get("token")
            who = await self.gate.websocket_caller(websocket, token if isinstance(token, str) and token else None)
        except (asyncio.TimeoutError, ValueError, WebSocketDisconnect, KeyError):
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=4400)
            return
        if who is None or who.role not in ROOM_ROLES | {"anonymous"}:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.send_text(encode_frame([json.dumps({"type": "denied", "reason": "token refused"})]))
                await websocket.close(code=4403)
            return
        rooms = frozenset({who.room}) if who.role == "tablet" else None
        asked = hello.get("rooms")
        if isinstance(asked, list) and all(isinstance(r, str) for r in asked):
            rooms = frozenset(asked) if rooms is None else rooms & frozenset(asked)
        client = LiveClient(websocket, who, rooms, TABLET_KINDS if who.role == "tablet" else CONSOLE_KINDS)
        self.clients.add(client)
        self._ensure_pump()
        try:
            await websocket.send_text(encode_frame([json.dumps({
                "type": "hello", "who": who.model_dump(mode="json"), "site": self.controller.config.site,
                "site_name": self.controller.config.name, "ping_every": PING_EVERY})]))
            await websocket.send_text(self.snapshot(client))
            receiver = asyncio.create_task(_drain(websocket))
            try:
                await self._send_frames(client, receiver)
            finally:
                receiver.cancel()
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            self.clients.discard(client)
            await self._stop_pump_if_idle()

    async def _send_frames(self, client: LiveClient, receiver: asyncio.Task) -> None:
        websocket = client.websocket
        while not receiver.done():
            getter = asyncio.ensure_future(client.frames.get())
            done, _ = await asyncio.wait({getter, receiver}, timeout=PING_EVERY, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                if receiver in done:
                    return
                await websocket.send_text('[{"type":"ping"}]')
                continue
            if not self.gate.still_valid(client.who):
                await websocket.close(code=4401)  # the session ended: sign in again
                return
            frames = [getter.result()]
            while not client.frames.empty():
                frames.append(client.frames.get_nowait())
            if client.behind:
                client.behind = False
                await websocket.send_text(self.snapshot(client))
                continue
            # Several frames waiting: one send, their messages joined.
            parts = [f[1:-1] for f in frames if len(f) > 2]
            if parts:
                await websocket.send_text("[" + ",".join(parts) + "]")
                self.frames_sent += 1


async def _drain(websocket: WebSocket) -> None:
    """Pages send nothing after their hello; read until they go."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return


def live_router(hub: LiveHub) -> APIRouter:
    router = APIRouter()

    @router.websocket("/api/live")
    async def live(websocket: WebSocket) -> None:
        """The pages' socket: first message ``{"token": ..., "rooms"?: [...]}``; then frames (JSON arrays)."""
        await hub.serve(websocket)

    return router
