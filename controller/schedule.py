"""The day's timeline around each booking, and the scheduler that runs it on the one clock.

For each booking the venue's routine (DESIGN.md), every offset from ``schedule:``:

    day before, 16:00   rehearsal self-test (important meetings)   action "selftest"
    T-60                pre-meeting self-test                        action "selftest"
    T-45                second lights-and-sound check                action "recheck"
    T-30 - lead         climate started (lead from a thermal model)  action "climate_start"
    T-30                the room's Ready scene                       action "scene:ready"
    T-20                staff reminder; the room is marked attended  action "reminder"
    start               monitoring on                                action "monitor_start"
    end                 monitoring off, post-meeting routine         actions "monitor_stop", "post_meeting"

The scheduler publishes each entry on the bus (kind ``schedule``) when it is due and
calls the handlers registered for its action; the routines (self-test, monitoring,
post-meeting...) register themselves::

    controller.scheduler.register("selftest", run_selftest)    # async or plain; gets the TimelineEntry

An action nobody registered is published and logged, never an error. A handler that
raises is published as ``failed`` and the timeline goes on.

The climate lead time comes from a pluggable estimate ``(room, band, deadline) -> timedelta``
(:data:`ThermalLeadEstimate`); the default is the config's constant ``climate_lead``. A
thermal model replaces it with ``controller.scheduler.set_thermal_lead(estimate)``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from controller.bookings import Booking, Schedule
from controller.schedule_config import ScheduleConfig

log = logging.getLogger(__name__)

# An entry whose time passed while the controller was not running is still run when it is
# worth it: before its expiry (a missed T-60 self-test at T-50, monitoring of a meeting in
# progress). The end-of-meeting steps stay worth running this long after the end.
LATE_AFTER_END = timedelta(hours=1)
# The scheduler sleeps until the next entry, but wakes at least this often (real seconds)
# to ask the thermal estimate again: a room that warms up moves its climate start earlier.
RECONSIDER_EVERY = 1.0
# How far ahead the running scheduler looks at bookings (beyond the rehearsal's days).
LOOKAHEAD = timedelta(days=2)
# A thermal estimate's answer beyond this is taken as a bug in the estimate, not a plan.
LONGEST_LEAD = timedelta(hours=12)


class Step(StrEnum):
    REHEARSAL = "rehearsal"
    SELFTEST = "selftest"
    RECHECK = "recheck"
    CLIMATE = "climate"
    READY = "ready"
    REMINDER = "reminder"
    MONITOR_START = "monitor_start"
    MONITOR_STOP = "monitor_stop"
    POST_MEETING = "post_meeting"


# Entries at the same moment: the earlier meeting's first (one ends as the next begins), then
# in this order (monitoring stops before the post-meeting routine).
STEP_ORDER = {step: n for n, step in enumerate(Step)}


class EntryStatus(StrEnum):
    PENDING = "pending"      # its time has not come
    RUNNING = "running"      # due; its handlers are running
    DONE = "done"            # every handler returned
    FAILED = "failed"        # a handler raised
    UNHANDLED = "unhandled"  # due, published; no handler is registered for its action
    MISSED = "missed"        # its time passed while nothing ran it, and it is no longer worth running


class TimelineEntry(BaseModel):
    """One step of the routine for one booking."""

    model_config = ConfigDict(frozen=True)

    at: datetime  # in the site's timezone
    room: str
    step: Step
    action: str  # what handlers register for
    booking: Booking
    expires: datetime  # not worth running after this
    details: dict[str, Any] = {}  # selftest: meeting_minutes, purpose; climate: band, deadline, lead_minutes...

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.room, self.booking.id, self.step.value)

    def sort_key(self) -> tuple:
        return (self.at, self.booking.start, STEP_ORDER[self.step], self.room, self.booking.id)

    def view(self, status: EntryStatus | None = None) -> dict[str, Any]:
        view = {"at": self.at.isoformat(), "room": self.room, "booking": self.booking.id,
                "title": self.booking.title, "start": self.booking.start.isoformat(),
                "end": self.booking.end.isoformat(), "step": self.step.value, "action": self.action,
                "details": self.details}
        if status is not None:
            view["status"] = status.value
        return view


Handler = Callable[[TimelineEntry], Awaitable[Any] | Any]
ThermalLeadEstimate = Callable[[str, tuple[float, float], datetime], timedelta]
"""``(room, (low °C, high °C), deadline) -> lead``: how long before ``deadline`` the room's
climate must start to be inside the band by then."""


def constant_lead(minutes: float) -> ThermalLeadEstimate:
    """The default estimate: the same lead for every room, whatever the weather."""
    lead = timedelta(minutes=minutes)

    def estimate(room: str, band: tuple[float, float], deadline: datetime) -> timedelta:
        return lead

    return estimate


class Timeline:
    """The entries of each booking, computed from the config's offsets and the thermal estimate."""

    def __init__(self, schedule: Schedule, config: ScheduleConfig, *,
                 thermal_lead: ThermalLeadEstimate | None = None) -> None:
        self.schedule = schedule
        self.config = config
        self.default_lead = constant_lead(config.climate_lead)
        self.thermal_lead = thermal_lead or self.default_lead
        self._lead_complaints: set[tuple[str, str]] = set()  # (room, booking) already logged

    def entries(self, booking: Booking) -> list[TimelineEntry]:
        c, zone = self.config, self.schedule.zone
        start, end = booking.start.astimezone(zone), booking.end.astimezone(zone)
        minutes = lambda m: timedelta(minutes=m)  # noqa: E731
        meeting_minutes = round((end - start).total_seconds() / 60, 1)
        selftest_at = start - minutes(c.selftest_before)
        deadline = start - minutes(c.climate_in_band_before)
        lead = self._lead(booking, deadline)

        def entry(step: Step, at: datetime, action: str, expires: datetime, **details: Any) -> TimelineEntry:
            return TimelineEntry(at=at, room=booking.room, step=step, action=action, booking=booking,
                                 expires=expires, details=details)

        entries = []
        if booking.important:
            day = start.date() - timedelta(days=c.rehearsal_days_before)
            rehearsal_at = datetime.combine(day, c.rehearsal_at, zone)
            # Caught up late only on its own day, and never once the T-60 self-test is due.
            rehearsal_until = min(selftest_at, datetime.combine(day + timedelta(days=1), time(0), zone))
            if rehearsal_at < selftest_at:
                entries.append(entry(Step.REHEARSAL, rehearsal_at, "selftest", rehearsal_until, purpose="rehearsal",
                                     meeting_minutes=meeting_minutes))
        after_end = end + minutes(c.post_meeting_after)
        following = self.schedule.next_booking(booking.room, end)  # the post-meeting routine may leave the room on
        next_meeting = {"next_booking": following.id, "next_start": following.start.isoformat()} if following else {}
        entries += [
            entry(Step.SELFTEST, selftest_at, "selftest", start, purpose="pre_meeting",
                  meeting_minutes=meeting_minutes),
            entry(Step.RECHECK, start - minutes(c.recheck_before), "recheck", start),
            entry(Step.CLIMATE, deadline - lead, "climate_start", start, band=list(c.climate_band),
                  deadline=deadline.isoformat(), lead_minutes=round(lead.total_seconds() / 60, 1)),
            entry(Step.READY, start - minutes(c.ready_before), f"scene:{c.ready_scene}", start, scene=c.ready_scene),
            entry(Step.REMINDER, start - minutes(c.reminder_before), "reminder", end, attended=True),
            entry(Step.MONITOR_START, start, "monitor_start", end, until=end.isoformat()),
            entry(Step.MONITOR_STOP, end, "monitor_stop", end + LATE_AFTER_END),
            entry(Step.POST_MEETING, after_end, "post_meeting", after_end + LATE_AFTER_END, **next_meeting),
        ]
        return sorted(entries, key=TimelineEntry.sort_key)

    def between(self, start: datetime, end: datetime, *, room: str | None = None) -> list[TimelineEntry]:
        """Entries whose time falls in [start, end), in the order they run."""
        reach = timedelta(days=self.config.rehearsal_days_before + 1)
        window = self.schedule.bookings(room=room, start=start - LATE_AFTER_END - timedelta(
            minutes=self.config.post_meeting_after), end=end + reach)
        found = [e for b in window for e in self.entries(b) if start <= e.at < end]
        return sorted(found, key=TimelineEntry.sort_key)

    def day(self, day: date, *, room: str | None = None) -> list[TimelineEntry]:
        return self.between(*self.schedule.day_bounds(day), room=room)

    def _lead(self, booking: Booking, deadline: datetime) -> timedelta:
        """The estimate's lead; the default when the estimate fails or answers nonsense."""
        try:
            lead = self.thermal_lead(booking.room, tuple(self.config.climate_band), deadline)
            if not isinstance(lead, timedelta) or not timedelta(0) <= lead <= LONGEST_LEAD:
                raise ValueError(f"a lead of {lead!r}: expected a timedelta between 0 and {LONGEST_LEAD}")
            return lead
        except Exception as exc:  # an estimate is advice: its failure must not stop the timeline
            if (booking.room, booking.id) not in self._lead_complaints:
                self._lead_complaints.add((booking.room, booking.id))
                log.warning("thermal estimate for %s/%s failed (%s); using the default lead", booking.room,
                            booking.id, exc)
            return self.default_lead(booking.room, tuple(self.config.climate_band), deadline)


class Scheduler:
    """Runs the timeline on the injected clock: at each entry's time, publish it and call its handlers."""

    def __init__(self, schedule: Schedule, config: ScheduleConfig, *, clock, bus,
                 thermal_lead: ThermalLeadEstimate | None = None) -> None:
        self.schedule = schedule
        self.timeline = Timeline(schedule, config, thermal_lead=thermal_lead)
        self.clock = clock
        self.bus = bus
        self._handlers: dict[str, list[Handler]] = {}
        self._status: dict[tuple[str, str, str], EntryStatus] = {}
        self._attended: dict[str, Booking] = {}
        self._tasks: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._started_at: datetime | None = None

    # --- hooks for the routines -----------------------------------------------------------

    def register(self, action: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(entry)`` whenever an entry with this action is due; returns an unregister function.

        Several handlers may share an action; they run in registration order, each in turn.
        """
        self._handlers.setdefault(action, []).append(handler)

        def unregister() -> None:
            if handler in self._handlers.get(action, []):
                self._handlers[action].remove(handler)

        return unregister

    def actions(self) -> dict[str, int]:
        """Registered actions and how many handlers each has."""
        return {action: len(handlers) for action, handlers in self._handlers.items() if handlers}

    def set_thermal_lead(self, estimate: ThermalLeadEstimate | None) -> None:
        """Use a thermal model for the climate's start (None: back to the config's constant)."""
        self.timeline.thermal_lead = estimate or self.timeline.default_lead
        self._reconsider()

    def free_rooms(self, start: datetime, end: datetime, *, exclude=()) -> list[str]:
        """Rooms with no booking overlapping [start, end) — candidates for an alternate room."""
        return self.schedule.free_rooms(start, end, exclude=exclude)

    def attended(self) -> dict[str, Booking]:
        """Rooms a staff member has been told to stay in (from T-20 until the post-meeting routine)."""
        return dict(self._attended)

    def status(self, entry: TimelineEntry) -> EntryStatus:
        if entry.key in self._status:
            return self._status[entry.key]
        now = self.clock.now()
        if entry.at > now:
            return EntryStatus.PENDING
        return EntryStatus.MISSED if now >= entry.expires or self._task is None else EntryStatus.PENDING

    def day(self, day: date, *, room: str | None = None) -> list[dict[str, Any]]:
        """A site-local day's timeline with each entry's status, as the API and CLI show it."""
        return [entry.view(self.status(entry)) for entry in self.timeline.day(day, room=room)]

    def today(self) -> date:
        return self.clock.now().astimezone(self.schedule.zone).date()

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._started_at = self.clock.now()
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    def _reconsider(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            now = self.clock.now()
            upcoming = None
            for entry in self._pending(now):
                if entry.at > now:
                    upcoming = entry.at
                    break
                if now >= entry.expires:
                    self._status[entry.key] = EntryStatus.MISSED
                    self._publish(entry, "missed", now)
                else:
                    self._fire(entry, now)
            nap = RECONSIDER_EVERY
            if upcoming is not None:
                nap = min(nap, self.clock.real_seconds((upcoming - now).total_seconds()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(nap, 0.0))
            except TimeoutError:
                pass

    def _pending(self, now: datetime) -> list[TimelineEntry]:
        """Entries not run yet that still may be, in order; those expired before we started are not ours."""
        horizon = now + LOOKAHEAD + timedelta(days=self.timeline.config.rehearsal_days_before)
        found = [e for b in self.schedule.bookings(start=now - LATE_AFTER_END - timedelta(
                     minutes=self.timeline.config.post_meeting_after), end=horizon)
                 for e in self.timeline.entries(b)
                 if e.key not in self._status and e.expires > self._started_at]
        return sorted(found, key=TimelineEntry.sort_key)

    def _fire(self, entry: TimelineEntry, now: datetime) -> None:
        if entry.step is Step.REMINDER:
            self._attended[entry.room] = entry.booking
        elif entry.step is Step.POST_MEETING and self._attended.get(entry.room) == entry.booking:
            del self._attended[entry.room]
        handlers = list(self._handlers.get(entry.action, []))
        if not handlers:
            self._status[entry.key] = EntryStatus.UNHANDLED
            log.info("schedule: %s %s for %s/%s is due; nothing is registered for %r", entry.at.isoformat(),
                     entry.step, entry.room, entry.booking.id, entry.action)
            self._publish(entry, "due", now, handled=False)
            return
        self._status[entry.key] = EntryStatus.RUNNING
        self._publish(entry, "due", now, handled=True)
        task = asyncio.create_task(self._call(entry, handlers), name=f"schedule {entry.action} {entry.room}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, entry: TimelineEntry, handlers: list[Handler]) -> None:
        errors = []
        for handler in handlers:
            try:
                result = handler(entry)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a routine's failure is reported, and the timeline goes on
                log.exception("schedule: %s for %s/%s failed", entry.action, entry.room, entry.booking.id)
                errors.append({"handler": getattr(handler, "__qualname__", repr(handler)),
                               "error": type(exc).__name__, "detail": str(exc)})
        self._status[entry.key] = EntryStatus.FAILED if errors else EntryStatus.DONE
        self._publish(entry, "failed" if errors else "done", self.clock.now(), errors=errors or None)

    def _publish(self, entry: TimelineEntry, event: str, now: datetime, **extra: Any) -> None:
        data = {"event": event, "step": entry.step.value, "action": entry.action, "booking": entry.booking.id,
                "title": entry.booking.title, "scheduled_at": entry.at.isoformat(),
                "late_s": round(max((now - entry.at).total_seconds(), 0.0), 3),
                "catch_up": self._started_at is not None and entry.at < self._started_at,
                **entry.details, **{k: v for k, v in extra.items() if v is not None}}
        self.bus.publish("schedule", room=entry.room, data=data, actor="scheduler")


def parse_day(text: str) -> date:
    """A day as the CLI and API take it: YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date: give YYYY-MM-DD, e.g. 2025-03-10") from None


def zone_name(zone) -> str:
    return getattr(zone, "key", None) or str(zone)


def scene_handler(scenes) -> Handler:
    """The Ready step's handler: recall the room's scene through the scene engine.

    A room without that scene fails the step with its name; the timeline goes on.
    """
    async def recall(entry: TimelineEntry) -> None:
        scene_id = entry.details["scene"]
        if scene_id not in scenes.scenes(entry.room):
            raise LookupError(f"room {entry.room} has no scene {scene_id!r} (schedule.ready_scene)")
        result = await scenes.recall(entry.room, scene_id, actor="scheduler")
        if not result.ok:
            failed = [f"{s.device}: {s.error}" for s in result.steps if not s.ok]
            raise RuntimeError(f"scene {scene_id!r} in {entry.room} failed: {'; '.join(failed)}")

    return recall
