"""One exception tree for the kiosk. Errors carry data; nobody reads their text."""

from __future__ import annotations


class KioskError(Exception):
    """Base of every error the kiosk raises."""


# --- badge codes ----------------------------------------------------------------------


class BadCode(KioskError):
    """A scanned code that is not a badge token: damaged, truncated, garbage, wrong length."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownKey(BadCode):
    """Signed with a key id this kiosk does not know."""

    def __init__(self, key_id: int) -> None:
        super().__init__(f"signed with unknown key {key_id}")
        self.key_id = key_id


class RetiredKey(BadCode):
    """Signed with a key that has been retired: badges printed with it no longer count."""

    def __init__(self, key_id: int) -> None:
        super().__init__(f"signed with retired key {key_id}")
        self.key_id = key_id


class BadSignature(BadCode):
    """The signature does not match: altered or forged."""


class WrongEvent(BadCode):
    """A genuine badge of another event."""

    def __init__(self, event_id: int) -> None:
        super().__init__(f"a badge of event {event_id}")
        self.event_id = event_id


class NoSigningKey(KioskError):
    """Badges can only be made where a private key is kept (the organiser's machine)."""


# --- attendees ------------------------------------------------------------------------


class ImportRejected(KioskError):
    """A spreadsheet with bad rows: nothing was imported. ``problems`` are (line, message)."""

    def __init__(self, source: str, problems: list[tuple[int | None, str]]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s), nothing imported")
        self.source = source
        self.problems = problems

    def report(self) -> str:
        lines = [f"{self.source}: nothing imported"]
        lines += [f"  line {line}: {message}" if line else f"  {message}" for line, message in self.problems]
        return "\n".join(lines)


class UnknownAttendee(KioskError):
    def __init__(self, attendee_id: str) -> None:
        super().__init__(f"no attendee {attendee_id!r}")
        self.attendee_id = attendee_id


# --- staff ----------------------------------------------------------------------------


class PinRejected(KioskError):
    """A wrong supervisor PIN, or too many wrong ones in a row."""

    def __init__(self, locked_for: float = 0.0) -> None:
        super().__init__("wrong supervisor PIN" + (f"; locked for {locked_for:.0f} s" if locked_for else ""))
        self.locked_for = locked_for


class InvalidRequest(KioskError):
    """A request that fails validation before anything is stored."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


# --- replication ----------------------------------------------------------------------


class SyncRejected(KioskError):
    """A replication message that is not authentic or not well formed; nothing of it applied."""

    def __init__(self, reason: str, topic: str) -> None:
        super().__init__(f"{topic}: {reason}")
        self.reason = reason
        self.topic = topic
