"""The pages' live socket (``/api/live``): one bus subscription for every page, each event
serialised once, then fanned out as frames to every socket that may see it.

A page connects, sends ``{"token": ..., "rooms"?: [...]}`` as its first message (browsers
cannot set a WebSocket's headers), and gets frames: each frame is a JSON array of messages —
``hello``, ``snapshot`` (the rooms it may see, with their devices), then events
(``{"type": kind, "seq", "at", "room", "device", "data", "actor"}``) and a ``ping``
every ``PING_EVERY`` seconds so the page can tell a dead link from a quiet room.

Refusals say why, then close: a hello that is not that JSON object gets ``error`` and
close code 4400; a token that stands for nobody (or for a desk) gets ``denied`` and 4403;
a session that ends while the socket is open, 4401. Pages send nothing after their hello:
anything they do send gets ``error`` and 4400.

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
# A hello is a token and a few room ids; anything longer is not one (uvicorn's frame limit,
# 16 MiB, is far above what a hello needs).
HELLO_MAX_CHARS = 16_384
# A WebSocket close frame's reason is at most 123 bytes (RFC 6455 §5.5: 125 with the code).
CLOSE_REASON_MAX = 123

# What pages hear about: device changes, routines' progress, and (the console) the log — with
# the staff reminder (the room becomes attended) and maintenance entries as they are recorded.
TABLET_KINDS = frozenset({"state", "status", "scene"})
CONSOLE_KINDS = frozenset({"state", "status", "scene", "selftest", "alert", "playbook", "prompt", "monitoring",
                           "post_meeting", "schedule", "reminder", "maintenance", "command", "error", "audit", "auth",
                           "system"})
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


class BadHello(ValueError):
    """The first message is not ``{"token"?: str, "rooms"?: [str, ...]}`` as JSON text."""


@dataclass(frozen=True)
class Hello:
    token: str | None  # None: none given (the Authorization header, or an anonymous reader)
    rooms: frozenset[str] | None  # None: every room the caller may see


def hello_object(text: str | None) -> dict:
    """A page's first message as a JSON object (``None``: it sent a binary frame); BadHello says
    what is wrong. Shared by every live socket (the console's and tablets', the desks')."""
    if text is None:
        raise BadHello('the hello is a text frame: {"token": ...}')
    if len(text) > HELLO_MAX_CHARS:
        raise BadHello(f"the hello is longer than {HELLO_MAX_CHARS} characters")
    try:
        hello = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise BadHello("the hello is not JSON") from None
    if not isinstance(hello, dict):
        raise BadHello('the hello is a JSON object: {"token": ...}')
    return hello


async def receive_hello(websocket: WebSocket) -> dict | None:
    """Wait for a page's hello: the object, or None when the page went first; BadHello otherwise."""
    try:
        first = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT)
    except asyncio.TimeoutError:
        raise BadHello(f"no hello within {HELLO_TIMEOUT:g} s") from None
    except (WebSocketDisconnect, RuntimeError):
        return None
    if first["type"] == "websocket.disconnect":
        return None
    return hello_object(first.get("text"))


def parse_hello(hello: dict) -> Hello:
    """The console's and tablets' hello: ``{"token"?, "rooms"?}``; BadHello says what is wrong."""
    token = hello.get("token")
    if token is not None and not isinstance(token, str):
        raise BadHello("token is a string")
    if token:
        try:
            token.encode()
        except UnicodeEncodeError:  # a lone surrogate (a "\\ud800" escape): no token is that
            raise BadHello("token is not valid text") from None
    rooms = hello.get("rooms")
    if rooms is not None and not (isinstance(rooms, list) and all(isinstance(room, str) for room in rooms)):
        raise BadHello("rooms is a list of room ids")
    return Hello(token=token or None, rooms=frozenset(rooms) if rooms is not None else None)


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
            self._pump.add_done_callback(_pump_ended)

    async def _stop_pump_if_idle(self) -> None:
        pump = self._pump
        if self.clients or pump is None:
            return
        # Forgotten before the wait: a page that connects meanwhile starts a pump of its own
        # rather than finding this one, cancelled, still there.
        self._pump = None
        pump.cancel()
        await asyncio.wait({pump})

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
            received = await receive_hello(websocket)
            if received is None:
                return
            hello = parse_hello(received)
        except BadHello as exc:
            await refuse(websocket, 4400, "error", str(exc))
            return
        who = await self.gate.websocket_caller(websocket, hello.token)
        if who is None or who.role not in ROOM_ROLES | {"anonymous"}:
            await refuse(websocket, 4403, "denied", "token refused")
            return
        rooms = frozenset({who.room}) if who.role == "tablet" else None
        if hello.rooms is not None:
            rooms = hello.rooms if rooms is None else rooms & hello.rooms
        client = LiveClient(websocket, who, rooms, TABLET_KINDS if who.role == "tablet" else CONSOLE_KINDS)
        self.clients.add(client)
        self._ensure_pump()
        receiver: asyncio.Task | None = None
        try:
            await websocket.send_text(encode_frame([json.dumps({
                "type": "hello", "who": who.model_dump(mode="json"), "site": self.controller.config.site,
                "site_name": self.controller.config.name, "ping_every": PING_EVERY})]))
            await websocket.send_text(self.snapshot(client))
            receiver = asyncio.create_task(until_the_page_speaks(websocket))
            await self._send_frames(client, receiver)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            self.clients.discard(client)
            if receiver is not None and not receiver.done():
                receiver.cancel()
            await self._stop_pump_if_idle()
        if receiver is not None and receiver.done() and not receiver.cancelled():
            complaint = receiver.result()  # raises what the reader did not expect: uvicorn logs it
            if complaint is not None:
                await refuse(websocket, 4400, "error", complaint)

    async def _send_frames(self, client: LiveClient, receiver: asyncio.Task) -> None:
        websocket = client.websocket
        while not receiver.done():
            getter = asyncio.ensure_future(client.frames.get())
            try:
                done, _ = await asyncio.wait({getter, receiver}, timeout=PING_EVERY,
                                             return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                getter.cancel()  # the server is stopping: no task left waiting on the queue
                raise
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


async def until_the_page_speaks(websocket: WebSocket) -> str | None:
    """Pages send nothing after their hello. Returns None when the page goes, or what is wrong
    when it sends something (the socket is then closed with 4400)."""
    try:
        message = await websocket.receive()
    except (WebSocketDisconnect, RuntimeError):
        return None
    if message["type"] == "websocket.disconnect":
        return None
    return "pages send nothing after their hello"


async def refuse(websocket: WebSocket, code: int, kind: str, reason: str, *, framed: bool = True) -> None:
    """Say why (a message the page can show), then close with ``code`` (what a program checks).
    ``framed``: as a frame (a list of messages, as the console and tablets read them), else one object."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # it may have gone already
        message = json.dumps({"type": kind, "reason": reason}, ensure_ascii=False)
        await websocket.send_text(encode_frame([message]) if framed else message)
        await websocket.close(code=code, reason=reason.encode()[:CLOSE_REASON_MAX].decode(errors="ignore"))


def _pump_ended(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the live hub stopped: pages hear nothing until one reconnects", exc_info=task.exception())


def live_router(hub: LiveHub) -> APIRouter:
    router = APIRouter()

    @router.websocket("/api/live")
    async def live(websocket: WebSocket) -> None:
        """The pages' socket: first message ``{"token": ..., "rooms"?: [...]}``; then frames (JSON arrays)."""
        await hub.serve(websocket)

    return router
