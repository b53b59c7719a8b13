"""`GET /api/schedule`: a day's timeline of the technician's routine, with each entry's status."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from controller.api_models import ScheduleDay, errors
from controller.schedule import parse_day, zone_name


def schedule_router(controller) -> APIRouter:
    router = APIRouter()

    @router.get("/api/schedule", responses=errors(401, 403, 404, 422))
    async def schedule(
        date: str | None = Query(None, max_length=32, description="YYYY-MM-DD in the site's timezone; default today"),
        room: str | None = Query(None, max_length=64),
    ) -> ScheduleDay:
        """Each entry: time, room, meeting, step, the action handlers run, and its status
        (pending, running, done, failed, unhandled, missed)."""
        scheduler = controller.scheduler
        try:
            day = parse_day(date) if date is not None else scheduler.today()
        except ValueError as exc:
            raise HTTPException(422, {"error": "BadRequest", "message": f"date: {exc}", "field": "date"}) from None
        if room is not None and room not in controller.site.rooms:
            raise HTTPException(404, {"error": "NotFound", "message": f"no room {room!r}", "field": "room"})
        return ScheduleDay(
            date=day.isoformat(),
            timezone=zone_name(scheduler.schedule.zone),
            entries=scheduler.day(day, room=room),
            attended={room_id: booking.id for room_id, booking in scheduler.attended().items()},
            registered_actions=scheduler.actions(),
        )

    return router
