"""The routines over HTTP: fault playbooks, technician prompts, alerts, monitoring, post-meeting.

Reads are open like the rest of the API's reads; anything that acts needs a technician
(or admin) token, and the token's name is who did it (who confirmed a step, who signed).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from controller.alerts import Alert
from controller.api_models import (MonitoringIdle, MonitoringStopped, MonitorView, PlaybookRunView, PlaybookSummary,
                                   PostMeetingRecord, PromptAnswered, PromptView, SessionLog, StepConfirmed, errors)
from controller.playbooks import PlaybookError, PlaybookRun, UnknownPlaybook
from controller.post_meeting import verify_session_log

ACTING_ROLES = ("technician", "admin")
READ_ERRORS = errors(401, 403, 404)
WRITE_ERRORS = errors(401, 403, 404, 422)


class RunRequest(BaseModel):
    device: str | None = Field(None, max_length=64, description="The device with the fault; default: found by roomctl")
    channel: int | None = Field(None, ge=1, le=64, description="Its channel, for mic and mixer faults")
    wait: bool = Field(False, description="Answer when the run has ended (it may wait minutes for a technician)")


class ConfirmRequest(BaseModel):
    done: bool = Field(True, description="true: done as asked; false: could not be done")
    note: str | None = Field(None, max_length=500)


class PromptAnswer(BaseModel):
    confirmed: bool
    note: str | None = Field(None, max_length=500)


class MonitoringRequest(BaseModel):
    minutes: float | None = Field(None, gt=0, le=24 * 60, description="Meeting length from now")
    until: datetime | None = Field(None, description="When the meeting ends (with a UTC offset)")


class PostMeetingRequest(BaseModel):
    technician: str | None = Field(None, min_length=1, max_length=100,
                                   description="Who signs the session log; default: the token's name")
    wait: bool = False


class SignRequest(BaseModel):
    technician: str | None = Field(None, min_length=1, max_length=100)


def _not_found(message: str) -> HTTPException:
    return HTTPException(404, {"error": "NotFound", "message": message})


def routines_router(controller, caller) -> APIRouter:
    """``caller`` is the API's bearer-token dependency (a Caller with name and role)."""
    router = APIRouter()

    def technician(who=Depends(caller)):
        if who.role not in ACTING_ROLES:
            raise HTTPException(403, {"error": "Forbidden", "message": f"a {who.role} token may not do this"})
        return who

    def room_or_404(room_id: str) -> None:
        if room_id not in controller.site.rooms:
            raise _not_found(f"no room {room_id!r}")

    # --- playbooks -------------------------------------------------------------------------

    @router.get("/api/rooms/{room_id}/playbooks", responses=READ_ERRORS, response_model_exclude_none=True)
    async def playbooks(room_id: str) -> list[PlaybookSummary]:
        """The room's playbooks by fault kind: built-in ones and the room's own (a step's unset options left out)."""
        room_or_404(room_id)
        return [PlaybookSummary(kind=kind, title=p.title, escalate=p.escalate, steps=p.steps)
                for kind, p in sorted(controller.playbooks.playbooks(room_id).items())]

    @router.post("/api/rooms/{room_id}/playbooks/{kind}", status_code=202, responses=errors(401, 403, 404, 422))
    async def run_playbook(room_id: str, kind: str, body: RunRequest | None = None,
                           who=Depends(technician)) -> PlaybookRun:
        """Start a run (stored before the answer); with ``wait`` answer when it has ended."""
        room_or_404(room_id)
        body = body or RunRequest()
        try:
            run = await controller.playbooks.start(room_id, kind, device=body.device, channel=body.channel,
                                                   actor=who.name)
        except UnknownPlaybook as exc:
            raise _not_found(str(exc)) from None
        except PlaybookError as exc:
            raise HTTPException(422, {"error": "BadRequest", "message": str(exc), "field": "device"}) from None
        return await controller.playbooks.wait(run.id) if body.wait else run

    @router.get("/api/playbook-runs", responses=errors(401, 403))
    async def playbook_runs(room: str | None = Query(None, max_length=64),
                            limit: int = Query(50, ge=1, le=500)) -> list[PlaybookRun]:
        """Playbook runs as stored, the latest first."""
        return await controller.routine_records.runs(room=room, limit=limit)

    @router.get("/api/playbook-runs/{run_id}", responses=READ_ERRORS)
    async def playbook_run(run_id: str) -> PlaybookRunView:
        run = await controller.routine_records.run(run_id)
        if run is None:
            raise _not_found(f"no playbook run {run_id!r}")
        return {**run, "waiting_prompt": controller.playbooks.waiting_prompt(run_id)}

    @router.post("/api/playbook-runs/{run_id}/confirm", responses=errors(401, 403, 404, 409))
    async def confirm_step(run_id: str, body: ConfirmRequest, who=Depends(technician)) -> StepConfirmed:
        """Answer the technician step the run waits on; 409 when it waits on none."""
        if await controller.routine_records.run(run_id) is None:
            raise _not_found(f"no playbook run {run_id!r}")
        if not controller.playbooks.confirm(run_id, confirmed=body.done, by=who.name, note=body.note):
            raise HTTPException(409, {"error": "NotWaiting", "message": f"run {run_id} waits on no technician step"})
        return StepConfirmed(ok=True, run=run_id, answered_by=who.name)

    # --- prompts and alerts ------------------------------------------------------------------

    @router.get("/api/prompts", responses=errors(401, 403), response_model_exclude_unset=True)
    async def prompts(room: str | None = Query(None, max_length=64)) -> list[PromptView]:
        """What routines wait for a technician to answer (with only the context each prompt has)."""
        return [p.view() for p in controller.prompts.pending(room=room)]

    @router.post("/api/prompts/{prompt_id}", responses=errors(401, 403, 409))
    async def answer_prompt(prompt_id: str, body: PromptAnswer, who=Depends(technician)) -> PromptAnswered:
        if not controller.prompts.answer(prompt_id, confirmed=body.confirmed, by=who.name, note=body.note):
            raise HTTPException(409, {"error": "NotWaiting", "message": f"prompt {prompt_id} is not waiting"})
        return PromptAnswered(ok=True, prompt=prompt_id, answered_by=who.name)

    @router.get("/api/alerts", responses=errors(401, 403))
    async def alerts(room: str | None = Query(None, max_length=64),
                     limit: int = Query(100, ge=1, le=1000)) -> list[Alert]:
        """Alerts raised and cleared, the latest first."""
        return await controller.routine_records.alerts(room=room, limit=limit)

    # --- monitoring --------------------------------------------------------------------------

    @router.get("/api/rooms/{room_id}/monitoring", responses=READ_ERRORS)
    async def monitoring(room_id: str) -> MonitorView | MonitoringIdle:
        """The room's meeting patrol: running, or the last one; only room and running when none has run."""
        room_or_404(room_id)
        monitor = controller.monitoring.get(room_id)
        return monitor.view() if monitor is not None else {"room": room_id, "running": False}

    @router.post("/api/rooms/{room_id}/monitoring/start", responses=WRITE_ERRORS)
    async def start_monitoring(room_id: str, body: MonitoringRequest | None = None,
                               who=Depends(technician)) -> MonitorView:
        room_or_404(room_id)
        body = body or MonitoringRequest()
        if body.until is not None and body.until.tzinfo is None:
            raise HTTPException(422, {"error": "BadRequest", "message": "until needs a UTC offset", "field": "until"})
        monitor = await controller.monitoring.start(room_id, until=body.until, minutes=body.minutes, actor=who.name)
        return monitor.view()

    @router.post("/api/rooms/{room_id}/monitoring/stop", responses=errors(401, 403, 404))
    async def stop_monitoring(room_id: str, who=Depends(technician)) -> MonitoringStopped:
        room_or_404(room_id)
        monitor = await controller.monitoring.stop(room_id)
        return MonitoringStopped(room=room_id, running=False, was_running=monitor is not None)

    # --- post-meeting --------------------------------------------------------------------------

    @router.post("/api/rooms/{room_id}/post-meeting", status_code=202, responses=WRITE_ERRORS,
                 response_model_exclude_unset=True)
    async def post_meeting(room_id: str, body: PostMeetingRequest | None = None,
                           who=Depends(technician)) -> PostMeetingRecord:
        """Start the post-meeting routine; the session log is signed with ``technician`` (default: the token's name)."""
        room_or_404(room_id)
        body = body or PostMeetingRequest()
        record = await controller.post_meeting.start(room_id, technician=body.technician or who.name, actor=who.name)
        return await controller.post_meeting.wait(record["id"]) if body.wait else record

    @router.get("/api/rooms/{room_id}/post-meeting", responses=READ_ERRORS, response_model_exclude_unset=True)
    async def post_meetings(room_id: str, limit: int = Query(20, ge=1, le=200)) -> list[PostMeetingRecord]:
        """The room's post-meeting routines, the latest first."""
        room_or_404(room_id)
        return await controller.routine_records.post_meetings(room=room_id, limit=limit)

    @router.get("/api/post-meeting/{record_id}", responses=READ_ERRORS, response_model_exclude_unset=True)
    async def post_meeting_record(record_id: str) -> PostMeetingRecord:
        record = await controller.routine_records.post_meeting(record_id)
        if record is None:
            raise _not_found(f"no post-meeting routine {record_id!r}")
        return record

    @router.post("/api/post-meeting/{record_id}/sign", responses=errors(401, 403, 404, 409),
                 response_model_exclude_unset=True)
    async def sign(record_id: str, body: SignRequest | None = None, who=Depends(technician)) -> PostMeetingRecord:
        """Sign a session log nobody signed in time (a routine the schedule started)."""
        try:
            return await controller.post_meeting.sign_later(record_id, (body.technician if body else None) or who.name)
        except KeyError:
            raise _not_found(f"no post-meeting routine {record_id!r}") from None
        except ValueError as exc:
            raise HTTPException(409, {"error": "Conflict", "message": str(exc)}) from None

    @router.get("/api/session-logs/{log_id}", responses=READ_ERRORS)
    async def session_log(log_id: str) -> SessionLog:
        """A signed session log, and whether its content still matches its SHA-256."""
        log = await controller.routine_records.session_log(log_id)
        if log is None:
            raise _not_found(f"no session log {log_id!r}")
        return {**log, "verified": verify_session_log(log)}

    return router
