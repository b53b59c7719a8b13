"""The schedule's config: a room's bookings (``bookings:``, ``ics:``) and the site's timeline
(``schedule:``): its timezone and every offset of the technician's routine.

Offsets are minutes before the meeting's start (after its end for the post-meeting
routine); the defaults are the venue's service standard (see DESIGN.md).
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.capabilities import capabilities

# Booking ids appear in URLs and event data; an ICS UID keeps its own spelling (see bookings.py).
BOOKING_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"
MINUTES_IN_A_DAY = 24 * 60


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def known_capability(name: str) -> str:
    known = capabilities()
    if name not in known:
        raise ValueError(f"no capability {name!r}; known: {', '.join(sorted(known))}")
    return name


class BookingConfig(_Model):
    """A meeting booked in a room. Times without a UTC offset are in the site's timezone."""

    id: str = Field(pattern=BOOKING_ID_PATTERN, description="Unique in its room: 'board-2025-03-10'")
    title: str = Field(min_length=1, max_length=200)
    start: datetime
    end: datetime
    important: bool = Field(False, description="Rehearse the day before (the venue's rule for important meetings)")
    attendees: int | None = Field(None, ge=0, le=100_000, description="Expected attendees")
    required_capabilities: list[str] = Field(
        default_factory=list, description="What the meeting needs (lamps, input...): an alternate room must have them"
    )

    @field_validator("required_capabilities")
    @classmethod
    def _known_capabilities(cls, names: list[str]) -> list[str]:
        return [known_capability(name) for name in names]

    @model_validator(mode="after")
    def _ends_after_start(self) -> "BookingConfig":
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("give start and end both with a UTC offset, or both without (the site's timezone)")
        if self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat(' ')} is not after start {self.start.isoformat(' ')}")
        return self


class ScheduleConfig(_Model):
    """The site's timeline of the technician's routine around each booking."""

    timezone: str | None = Field(None, description="IANA zone of the site, e.g. Asia/Shanghai; default: this machine's")
    rehearsal_days_before: int = Field(1, ge=1, le=14, description="Important meetings: rehearse this many days before")
    rehearsal_at: time = Field(time(16, 0), description="Local time of day of the rehearsal self-test")
    selftest_before: float = Field(60, ge=0, le=MINUTES_IN_A_DAY, description="Minutes before the start: self-test")
    # The venue says "T-60" for the second check too; it has to follow the self-test, which
    # takes minutes (warm-up, speak test), so it comes a quarter of an hour later by default.
    recheck_before: float = Field(45, ge=0, le=MINUTES_IN_A_DAY, description="Second lights-and-sound check")
    climate_in_band_before: float = Field(30, ge=0, le=MINUTES_IN_A_DAY,
                                          description="Minutes before the start the room must be in its band")
    climate_band: tuple[float, float] = Field((22.0, 24.0), description="Target room temperature, °C (low, high)")
    climate_lead: float = Field(45, ge=0, le=MINUTES_IN_A_DAY,
                                description="Minutes the climate needs, when no thermal model estimates it")
    ready_before: float = Field(30, ge=0, le=MINUTES_IN_A_DAY, description="Minutes before the start: Ready scene")
    ready_scene: str = Field("ready", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="The room's scene to recall")
    reminder_before: float = Field(20, ge=0, le=MINUTES_IN_A_DAY,
                                   description="Minutes before the start: staff reminder, room attended")
    post_meeting_after: float = Field(0, ge=0, le=MINUTES_IN_A_DAY, description="Minutes after the end: post-meeting")

    @field_validator("timezone")
    @classmethod
    def _a_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{name!r} is not an IANA timezone (e.g. Asia/Shanghai, Europe/Berlin)") from None
        return name

    @field_validator("rehearsal_at", mode="before")
    @classmethod
    def _sexagesimal(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 16:00 as the base-60 integer 960: take it as the time it was written as.
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MINUTES_IN_A_DAY:
            return time(value // 60, value % 60)
        return value

    @field_validator("climate_band")
    @classmethod
    def _a_band(cls, band: tuple[float, float]) -> tuple[float, float]:
        low, high = band
        if low >= high:
            raise ValueError(f"low {low:g} °C must be below high {high:g} °C")
        return band

    @model_validator(mode="after")
    def _consistent(self) -> "ScheduleConfig":
        if self.recheck_before > self.selftest_before:
            raise ValueError(f"recheck_before ({self.recheck_before:g} min) would come before the self-test "
                             f"({self.selftest_before:g} min): the re-check follows the self-test")
        return self
