"""One exception tree for every driver. Errors carry data; nobody reads their text."""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every error a driver raises."""


class DeviceUnreachable(DeviceError):
    """The transport could not be opened or was closed under us."""


class DeviceTimeout(DeviceError):
    """The device did not answer within its timeout."""

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(f"no answer to {what} within {timeout:g} s")
        self.what = what
        self.timeout = timeout


class ProtocolError(DeviceError):
    """The device sent bytes that do not parse: garbled, truncated, too long, unexpected."""

    def __init__(self, reason: str, frame: bytes | None = None) -> None:
        super().__init__(reason if frame is None else f"{reason}: {frame[:80]!r}")
        self.reason = reason
        self.frame = frame


class DeviceRejected(DeviceError):
    """The device understood the command and refused it with an error code."""

    def __init__(self, command: str, code: str) -> None:
        super().__init__(f"{command} refused with {code}")
        self.command = command
        self.code = code


class DeviceBusy(DeviceRejected):
    """Refused only for now (a projector warming up or cooling down): retry later."""


class AuthFailed(DeviceError):
    """The device refused our credentials: a configuration problem, not a fault."""


class InvalidCommand(DeviceError):
    """A command failed validation before anything was encoded."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class Unsupported(InvalidCommand):
    """The device lacks the capability a command needs."""
