"""A network device judged by reachability: a TCP connect, or an HTTP health URL.

For what roomctl does not drive but must know is there: the video conference
terminal, the conference server, a streaming encoder. Each poll is one short-lived
connection — for these devices the connect is the check.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.capabilities.health import HasHealth, Health
from drivers.device import Device, TransportSpec
from drivers.errors import DeviceError, DeviceTimeout, ProtocolError
from drivers.link import Link
from drivers.transports.framing import LineFramer

# The status line of an HTTP/1.x answer: `HTTP/1.1 200 OK`.
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})(?: .*)?")
MAX_STATUS_LINE = 1024


def http_request(host: str, path: str) -> bytes:
    """A minimal GET that asks the server to close afterwards (pure: no I/O)."""
    if not path.startswith("/") or any(c in path for c in "\r\n "):
        raise ValueError(f"not an HTTP path: {path!r}")
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: roomctl\r\nConnection: close\r\n\r\n".encode("ascii")


def parse_status_line(line: bytes) -> int:
    m = _STATUS_LINE.fullmatch(line)
    if not m:
        raise ProtocolError("not an HTTP status line", line)
    return int(m.group(1))


class HealthOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: Literal["tcp", "http"] = Field("tcp", description="tcp: the port accepts a connection; http: GET path")
    path: str = Field("/", pattern=r"^/[^\s]*$", description="HTTP path to GET")
    expect_status: list[int] = Field([200, 204], description="HTTP status codes that mean healthy")


class NetworkHealth(Device, HasHealth):
    driver: ClassVar[str] = "network_health"
    transport_spec: ClassVar[TransportSpec] = TransportSpec("tcp", default_port=80)
    Options: ClassVar[type[BaseModel]] = HealthOptions
    options: HealthOptions

    async def connect(self) -> None:
        await self.poll()  # the first check is the connection test

    async def close(self) -> None:
        await self.transport.close()

    async def poll(self) -> None:
        began = time.monotonic()
        link = Link(self.transport, LineFramer(b"\r\n", max_frame=MAX_STATUS_LINE), name=self.id)
        try:
            await link.open()
            if self.options.check == "tcp":
                detail = "TCP connect"
            else:
                host = getattr(self.transport, "host", "localhost")
                status = await link.request(http_request(host, self.options.path), timeout=self.timeout,
                                            parse=parse_status_line, what=f"GET {self.options.path}")
                if status not in self.options.expect_status:
                    self._set("health", Health(ok=False, latency_ms=_ms(began), detail=f"HTTP {status}"))
                    return
                detail = f"HTTP {status}"
        except DeviceTimeout:
            raise
        except DeviceError as exc:
            self._set("health", Health(ok=False, detail=str(exc)))
            raise
        finally:
            await link.close()
        self._set("health", Health(ok=True, latency_ms=_ms(began), detail=detail))

    def fault_reason(self) -> str | None:
        health = self.state.get("health")
        if health is not None and not health.ok:
            return f"unhealthy: {health.detail}"
        return None


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)
