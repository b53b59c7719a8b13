"""What the routine tests share: the project office's webhook receiver, an MQTT listener on
the controller's broker, and waiting for bus events — each real, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from drivers.transports.mqtt import BrokerSettings, MqttConnection

# Everything here is loopback: an answer takes milliseconds; these bound a broken test.
WITHIN = 10.0


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def around_now(before_minutes: float, after_minutes: float) -> tuple[str, str]:
    now = datetime.now(timezone.utc)
    return iso(now - timedelta(minutes=before_minutes)), iso(now + timedelta(minutes=after_minutes))


class ProjectOffice:
    """A tiny HTTP/1.1 server that takes the escalation POSTs, as the project office's endpoint would."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: asyncio.Queue[tuple[str, dict, dict]] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/roomctl"

    async def start(self) -> "ProjectOffice":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode()
            headers = {}
            while (line := (await reader.readline()).decode()) not in ("\r\n", "\n", ""):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, path, _ = request_line.split(" ", 2)
            await self.received.put((f"{method} {path}", headers, json.loads(body) if body else {}))
            reason = "OK" if self.status == 200 else "Error"
            writer.write(f"HTTP/1.1 {self.status} {reason}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
            await writer.drain()
        finally:
            writer.close()

    async def next(self, within: float = WITHIN) -> tuple[str, dict, dict]:
        return await asyncio.wait_for(self.received.get(), within)


class AlertListener:
    """Subscribes to roomctl/<site>/<room>/alerts on the controller's broker, as a venue dashboard would."""

    def __init__(self, controller, room: str) -> None:
        self.topic = f"roomctl/{controller.config.site}/{room}/alerts"
        settings = controller.mqtt.settings
        self.connection = MqttConnection(BrokerSettings(host=settings.host, port=settings.port,
                                                        client_id=f"listener-{room}"))
        self.messages: asyncio.Queue[dict] = asyncio.Queue()

    async def start(self) -> "AlertListener":
        await self.connection.start()
        await self.connection.wait_connected(WITHIN)
        await self.connection.subscribe(self.topic, lambda message: self.messages.put_nowait(
            json.loads(message.payload)))
        return self

    async def stop(self) -> None:
        await self.connection.stop()

    async def next(self, *, kind: str | None = None, source: str | None = None, within: float = WITHIN) -> dict:
        async with asyncio.timeout(within):
            while True:
                alert = await self.messages.get()
                if (kind is None or alert["kind"] == kind) and (source is None or alert["source"] == source):
                    return alert


async def next_event(subscription, predicate, *, within: float = WITHIN):
    """The first bus event that ``predicate`` accepts."""
    async with asyncio.timeout(within):
        while True:
            event = await subscription.get()
            if predicate(event):
                return event
