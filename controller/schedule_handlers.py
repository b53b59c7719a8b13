"""What the technician's timeline does at each step, on a running controller.

T-60 (and the day before, for important meetings): the self-test, and the fault
playbook of every failure it found. The second check: lights and sound again.
Climate start: the air-conditioning on, towards the middle of the band. T-20: the
staff reminder, and the room is marked attended. (T-30's Ready scene, monitoring and
the post-meeting routine are registered by their own modules.)
"""

from __future__ import annotations

import logging

from controller.checks import Verdict
from controller.checks.base import text
from drivers.capabilities import HasPower, SetPower
from drivers.capabilities.audio import HasFaders, HasWirelessChannels
from drivers.capabilities.climate import HasHvacMode, HasSetpoint, HvacMode, SetHvacMode, SetSetpoint
from drivers.capabilities.lighting import HasBrightness
from drivers.errors import DeviceError

log = logging.getLogger(__name__)

ACTOR = "schedule"


def register(controller) -> list:
    scheduler = controller.scheduler
    return [
        scheduler.register("selftest", lambda entry: run_selftest(controller, entry)),
        scheduler.register("recheck", lambda entry: recheck(controller, entry)),
        scheduler.register("climate_start", lambda entry: climate_start(controller, entry)),
        scheduler.register("reminder", lambda entry: reminder(controller, entry)),
        scheduler.register("post_meeting", lambda entry: release(controller, entry)),
    ]


async def run_selftest(controller, entry) -> None:
    report = await controller.selftest.run(entry.room, meeting_minutes=entry.details.get("meeting_minutes"),
                                           actor=ACTOR)
    await _playbooks_for(controller, entry.room, report)


async def recheck(controller, entry) -> None:
    """Lights and sound again: what the venue's routine checks a second time."""
    room = controller.site.rooms[entry.room]
    chosen = {d.id for d in room.devices.values()
              if isinstance(d.device, (HasBrightness, HasWirelessChannels, HasFaders))}
    if chosen:
        report = await controller.selftest.run(entry.room, devices=chosen, actor=ACTOR,
                                               meeting_minutes=_meeting_minutes(entry))
        await _playbooks_for(controller, entry.room, report)


async def climate_start(controller, entry) -> None:
    low, high = entry.details.get("band") or (22.0, 24.0)
    target = round((low + high) / 2 * 2) / 2  # units set in half degrees at best
    for runtime in controller.site.rooms[entry.room].devices.values():
        if not isinstance(runtime.device, HasSetpoint):
            continue
        try:
            if isinstance(runtime.device, HasPower):
                await controller.site.execute(entry.room, runtime.id, SetPower(on=True), actor=ACTOR)
            if isinstance(runtime.device, HasHvacMode) and HvacMode.AUTO in runtime.device.hvac_modes():
                await controller.site.execute(entry.room, runtime.id, SetHvacMode(mode=HvacMode.AUTO), actor=ACTOR)
            await controller.site.execute(entry.room, runtime.id, SetSetpoint(celsius=target), actor=ACTOR)
        except DeviceError as exc:
            log.warning("%s/%s: climate start failed: %s", entry.room, runtime.id, exc)
            await controller.playbooks.start(entry.room, "climate-not-reaching-target", device=runtime.id,
                                             actor=ACTOR, trigger=f"climate start: {exc}")


async def reminder(controller, entry) -> None:
    room = controller.site.rooms[entry.room]
    room.attended = True
    controller.bus.publish("reminder", room=entry.room, actor=ACTOR, data={
        "booking": entry.booking.id, "title": entry.booking.title,
        "message": text(f"{room.name}: one staff member stays in the room from now until the meeting ends "
                        f"({entry.booking.title}).",
                        f"{room.name}：从现在起至会议结束，须有一名工作人员留守会场（{entry.booking.title}）。"),
    })


async def _playbooks_for(controller, room_id: str, report) -> None:
    """Start the playbook of every failure, once per device and kind."""
    started = set()
    for result in report.results:
        if result.verdict is not Verdict.FAIL or not result.playbook:
            continue
        key = (result.device, result.playbook)
        if key in started:
            continue
        started.add(key)
        try:
            await controller.playbooks.start(room_id, result.playbook, device=result.device, actor=ACTOR,
                                             trigger=f"self-test {report.id}: {result.check}")
        except Exception as exc:  # an unknown kind for this room must not stop the others
            log.warning("%s: no playbook %s for %s: %s", room_id, result.playbook, result.device, exc)


def _meeting_minutes(entry) -> float:
    return (entry.booking.end - entry.booking.start).total_seconds() / 60


def release(controller, entry) -> None:
    """The post-meeting step: the meeting is over, nobody need stay in the room any more —
    unless the next meeting's reminder has already asked someone to (back-to-back bookings)."""
    if entry.room not in controller.scheduler.attended():
        controller.site.rooms[entry.room].attended = False
