"""The alternate room an escalation suggests: free for the meeting's time in the schedule,
and whose last self-test passed, with the capabilities the meeting needs among the
devices that passed it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from drivers.capabilities import capabilities

# Capabilities every kind of device reports; no meeting "needs" them.
GENERIC_CAPABILITIES = frozenset({"identity", "errors"})


def meeting_window(controller, room_id: str) -> tuple[datetime, datetime, Any]:
    """The meeting the room is failing: the one in progress, else the next today; else from
    now for the room's usual meeting length. Returns (start, end, booking or None)."""
    now = controller.clock.now()
    schedule = getattr(controller, "schedule", None)
    booking = None
    if schedule is not None:
        booking = schedule.booking_at(room_id, now)
        if booking is None:
            upcoming = schedule.next_booking(room_id, now)
            if upcoming is not None and upcoming.start - now <= timedelta(hours=24):
                booking = upcoming
    if booking is not None:
        return max(now, booking.start), booking.end, booking
    minutes = controller.config.room(room_id).selftest.meeting_minutes
    return now, now + timedelta(minutes=minutes), None


async def suggest_alternate_room(controller, room_id: str, *, needs: list[str]) -> dict[str, Any]:
    start, end, booking = meeting_window(controller, room_id)
    if booking is not None and booking.required_capabilities:
        needs = list(booking.required_capabilities)
    needs = sorted(set(needs) - GENERIC_CAPABILITIES)
    scheduler = getattr(controller, "scheduler", None)
    others = [r for r in controller.site.rooms if r != room_id]
    if scheduler is not None:
        free = set(scheduler.free_rooms(start, end, exclude=[room_id]))
        free_note = None
    else:
        free, free_note = set(others), "no schedule: every other room counted as free"
    candidates = []
    for other in others:
        verdict = await _judge(controller, other, needs=needs, free=other in free)
        candidates.append(verdict)
    chosen = next((c for c in candidates if c["ok"]), None)
    return {
        "room": chosen["room"] if chosen else None,
        "name": chosen["name"] if chosen else None,
        "selftest": chosen.get("selftest") if chosen else None,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "booking": booking.id if booking is not None else None,
        "needs": needs,
        "candidates": candidates,
        **({"note": free_note} if free_note else {}),
    }


async def _judge(controller, room_id: str, *, needs: list[str], free: bool) -> dict[str, Any]:
    runtime = controller.site.rooms[room_id]
    verdict: dict[str, Any] = {"room": room_id, "name": runtime.name, "ok": False}
    if not free:
        verdict["reason"] = "booked at that time"
        return verdict
    reports = await controller.store.selftests(room=room_id, limit=1)
    if not reports:
        verdict["reason"] = "no self-test on record"
        return verdict
    report = reports[0]
    verdict["selftest"] = {"id": report["id"], "started_at": report["started_at"], "ready": report["ready"]}
    if not report["ready"]:
        verdict["reason"] = "its last self-test was not ready"
        return verdict
    failed = {r["device"] for r in report["results"] if r["verdict"] == "fail"}
    checked = {r["device"] for r in report["results"]}
    known = capabilities()
    for need in needs:
        capability = known.get(need)
        passing = [d.id for d in runtime.devices.values()
                   if capability is not None and isinstance(d.device, capability)
                   and d.id in checked and d.id not in failed]
        if not passing:
            verdict["reason"] = f"no device with {need} passed its last self-test"
            return verdict
    verdict["ok"] = True
    return verdict
