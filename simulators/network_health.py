"""A network service that answers TCP connects and an HTTP health URL.

Stands in for a video conference terminal or a conference server. Written on its own:
it reads an HTTP request up to the blank line and answers `200 OK` on the health path
(`503` while it is told to be unhealthy), then hangs up.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, ClassVar

from simulators.base import Clock, Session, TcpLineSimulator
from simulators.faults import Fault


class NetworkHealthSimulator(TcpLineSimulator):
    protocol: ClassVar[str] = "network_health"
    description: ClassVar[str] = "a network service with an HTTP health URL"
    terminator: ClassVar[bytes] = b"\r\n"
    reply_terminator: ClassVar[bytes] = b"\r\n"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, path: str = "/", clock: Clock = time.monotonic) -> None:
        super().__init__(host=host, port=port, clock=clock)
        self.path = path

    def respond(self, session: Session, line: bytes) -> bytes | None:
        if not session.values.get("request"):
            session.values["request"] = line
            return None
        if line:
            return None  # a header; the request ends at the blank line
        session.values["hang_up"] = True
        parts = session.values["request"].split()
        if len(parts) != 3 or parts[0] != b"GET":
            return _response(400, "Bad Request")
        if parts[1].decode(errors="replace") != self.path:
            return _response(404, "Not Found")
        if Fault.OVER_TEMPERATURE in self.faults or Fault.FAN in self.faults:
            return _response(503, "Service Unavailable")  # up, but reporting itself unwell
        return _response(200, "OK", b'{"status":"ok"}')

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--path", default="/", help="the health URL's path")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock: Clock = time.monotonic) -> "NetworkHealthSimulator":
        return cls(host=options.get("host") or "127.0.0.1", port=options.get("port") or 0,
                   path=options.get("path") or "/", clock=clock)


def _response(status: int, reason: str, body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode("ascii") + body
