"""The technician's routines during and after a meeting, wired into a running controller:
prompts, alerts, fault playbooks, monitoring and the post-meeting routine.

``attach(controller)`` sets ``controller.prompts``, ``.alerts``, ``.playbooks``,
``.monitoring`` and ``.post_meeting`` and registers the schedule's actions
(``monitor_start``, ``monitor_stop``, ``post_meeting``) when the controller has a scheduler.
"""

from __future__ import annotations

from controller.alerts import AlertPublisher
from controller.monitoring import MonitoringService
from controller.playbooks import PlaybookEngine
from controller.post_meeting import PostMeetingRoutine
from controller.prompts import Prompts
from controller import schedule_handlers
from controller.routine_store import RoutineStore


async def attach(controller) -> None:
    records = RoutineStore(controller.store)
    await records.open()
    controller.routine_records = records
    controller.prompts = Prompts(controller.bus, controller.clock)
    controller.alerts = AlertPublisher(controller, records)
    controller.playbooks = PlaybookEngine(controller, records=records, prompts=controller.prompts,
                                          alerts=controller.alerts)
    controller.monitoring = MonitoringService(controller, alerts=controller.alerts, playbooks=controller.playbooks)
    controller.post_meeting = PostMeetingRoutine(controller, records=records, prompts=controller.prompts,
                                                 monitoring=controller.monitoring)
    scheduler = getattr(controller, "scheduler", None)
    if scheduler is not None:
        controller._routine_unregister = [
            scheduler.register("monitor_start", controller.monitoring.on_monitor_start),
            scheduler.register("monitor_stop", controller.monitoring.on_monitor_stop),
            scheduler.register("post_meeting", controller.post_meeting.on_post_meeting),
            *schedule_handlers.register(controller),
        ]


async def detach(controller) -> None:
    """Stop what runs, before the devices and the store go away."""
    for unregister in getattr(controller, "_routine_unregister", []):
        unregister()
    if getattr(controller, "monitoring", None) is not None:
        await controller.monitoring.stop_all()
    if getattr(controller, "post_meeting", None) is not None:
        await controller.post_meeting.stop()
    if getattr(controller, "playbooks", None) is not None:
        await controller.playbooks.stop()
