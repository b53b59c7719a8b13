"""The technician console's API: every room at a glance, one room in full, and the
self-test run from the page — with its progress on the live socket and its speak-test
prompts answered on the page (or by the demo's simulated talker).

A room's state at a glance, worst first:

- ``offline``: none of its devices answers;
- ``in_meeting``: a booking is in progress, or the meeting's monitoring runs;
- ``not_ready``: a device is offline or in fault, or its last self-test failed;
- ``warnings``: alerts standing, a self-test with warnings or checks not done, none yet,
  or devices still starting;
- ``ready``: its last self-test passed and every device answers.

Beside the state, ``attended``: a staff member stays in the room (from the schedule's T-20
reminder on), whatever the devices say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from controller.alerts import Alert
from controller.auth import Caller
from controller.checks.base import PromptRequest
from controller.playbooks import PlaybookRun
from controller.prompts import Answer
from drivers.capabilities import HasWirelessChannels
from drivers.status import Status

log = logging.getLogger(__name__)

# The self-test publishes "started" before its first await; this bounds a broken start.
SELFTEST_START_TIMEOUT = 5.0
# Alerts looked at to tell which still stand (a clearing alert names the one it clears).
ALERT_WINDOW = 200
# Recent playbook runs looked at for the ones still running (a run ends within its steps' timeouts).
RUN_WINDOW = 50

RoomState = Literal["ready", "warnings", "not_ready", "in_meeting", "offline"]


def _t(en: str, zh: str) -> dict[str, str]:
    return {"en": en, "zh": zh}


class SelfTestSummary(BaseModel):
    id: str
    ready: bool
    started_at: datetime
    counts: dict[str, int]


class MeetingNow(BaseModel):
    id: str
    title: str
    start: datetime
    end: datetime


class RoomGlance(BaseModel):
    id: str
    name: str
    state: RoomState
    attended: bool = Field(description="A staff member stays in the room (from the T-20 reminder on)")
    reasons: list[dict[str, str]] = Field(description="Why the room is in this state, in en and zh")
    devices_total: int
    devices_online: int
    devices_down: list[str] = Field(description="Devices not online: id (status)")
    last_selftest: SelfTestSummary | None
    alerts_standing: int
    meeting: MeetingNow | None
    selftest_running: bool
    playbooks_running: int


class DeviceView(BaseModel):
    id: str
    room: str
    name: str
    driver: str
    address: str | None
    status: str
    reason: str | None
    capabilities: list[str]
    state: dict[str, Any]


class MicWiring(BaseModel):
    name: str
    receiver: str
    channel: int
    mixer: str | None
    input: int | None
    spare: bool


class PlaybookKind(BaseModel):
    kind: str
    title: dict[str, str]


class RoomDetail(BaseModel):
    glance: RoomGlance
    devices: list[DeviceView]
    mics: list[MicWiring]
    alerts: list[Alert]
    playbook_runs: list[PlaybookRun]
    prompts: list[dict[str, Any]]
    selftests: list[SelfTestSummary]
    playbooks: list[PlaybookKind]
    simulated_talker: bool = Field(description="The room's receivers are simulated: a simulated talker can speak")


class SelfTestStart(BaseModel):
    talker: Literal["technician", "simulated"] = Field(
        "technician", description="technician: the speak test asks on the console; simulated: the demo's talker speaks")
    meeting_minutes: float | None = Field(None, gt=0, le=24 * 60)


class SelfTestStarted(BaseModel):
    id: str
    room: str
    planned: int
    talker: str


class RunningSelfTest(BaseModel):
    id: str
    room: str
    started_at: datetime
    talker: str
    actor: str


class ConsoleError(BaseModel):
    error: str
    message: str
    field: str | None = None


class SelfTestBusy(Exception):
    """A self-test is already running in the room, or could not start."""


def _summary(report: dict[str, Any]) -> SelfTestSummary:
    counts: dict[str, int] = {}
    for result in report.get("results", []):
        counts[result["verdict"]] = counts.get(result["verdict"], 0) + 1
    return SelfTestSummary(id=report["id"], ready=report["ready"], started_at=report["started_at"], counts=counts)


def standing_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raised alerts that no later alert has cleared."""
    cleared = {a.get("data", {}).get("clears") for a in alerts if a.get("state") == "cleared"}
    return [a for a in alerts if a.get("state") == "raised" and a["id"] not in cleared]


class Console:
    def __init__(self, controller) -> None:
        self.controller = controller
        self.selftests = PageSelfTests(controller)

    def room_ids(self) -> list[str]:
        return list(self.controller.site.rooms)

    def _simulated_receivers(self, room_id: str) -> bool:
        placed = getattr(self.controller, "placed_simulators", None) or {}
        return any(isinstance(d.device, HasWirelessChannels) and f"{room_id}/{d.id}" in placed
                   for d in self.controller.site.rooms[room_id].devices.values())

    async def glance(self, room_id: str) -> RoomGlance:
        controller = self.controller
        room = controller.site.rooms[room_id]
        devices = list(room.devices.values())
        online = [d for d in devices if d.supervisor.status is Status.ONLINE]
        down = [d for d in devices if d.supervisor.status is not Status.ONLINE]
        reports = await controller.store.selftests(room=room_id, limit=1)
        last = _summary(reports[0]) if reports else None
        records = getattr(controller, "routine_records", None)
        standing = standing_alerts(await records.alerts(room=room_id, limit=ALERT_WINDOW)) if records else []
        meeting = self._meeting(room_id)
        runs = await records.runs(room=room_id, limit=RUN_WINDOW) if records else []
        running_runs = sum(1 for run in runs if run.get("outcome") == "running")
        reasons: list[dict[str, str]] = []
        if devices and not online and all(d.supervisor.status in (Status.OFFLINE, Status.BAD_CONFIG) for d in devices):
            state: RoomState = "offline"
            reasons.append(_t("no device answers", "所有设备均无响应"))
        elif meeting is not None or self._monitored(room_id):
            state = "in_meeting"
            reasons.append(_t(f"in a meeting: {meeting.title}" if meeting else "monitoring the meeting",
                              f"会议中：{meeting.title}" if meeting else "会议监控中"))
        else:
            bad = [d for d in down if d.supervisor.status in (Status.OFFLINE, Status.FAULT, Status.BAD_CONFIG)]
            if bad or (last is not None and not last.ready):
                state = "not_ready"
                for d in bad:
                    reasons.append(_t(f"{d.config.name or d.id} is {d.supervisor.status.value}",
                                      f"{d.config.name or d.id}：{d.supervisor.status.value}"))
                if last is not None and not last.ready:
                    reasons.append(_t(f"the last self-test failed ({last.counts.get('fail', 0)} failures)",
                                      f"上次自检未通过（{last.counts.get('fail', 0)} 项失败）"))
            else:
                state = "ready"
                if last is None:
                    reasons.append(_t("no self-test yet", "尚未自检"))
                elif last.counts.get("warn") or last.counts.get("not_done"):
                    reasons.append(_t("the last self-test has warnings or checks not done", "上次自检有注意项或未执行项"))
                if standing:
                    reasons.append(_t(f"{len(standing)} alert(s) standing", f"{len(standing)} 条告警未解除"))
                if down:
                    reasons.append(_t("devices still starting", "设备启动中"))
                if reasons:
                    state = "warnings"
        if state == "ready":
            reasons.append(_t("the last self-test passed; every device answers", "上次自检通过，所有设备在线"))
        return RoomGlance(
            id=room_id, name=room.name, state=state, attended=room.attended, reasons=reasons,
            devices_total=len(devices), devices_online=len(online),
            devices_down=[f"{d.id} ({d.supervisor.status.value})" for d in down],
            last_selftest=last, alerts_standing=len(standing), meeting=meeting,
            selftest_running=self.selftests.running_in(room_id) is not None, playbooks_running=running_runs,
        )

    def _meeting(self, room_id: str) -> MeetingNow | None:
        schedule = getattr(self.controller, "schedule", None)
        if schedule is None:
            return None
        booking = schedule.booking_at(room_id, self.controller.clock.now())
        return MeetingNow(id=booking.id, title=booking.title, start=booking.start, end=booking.end) if booking else None

    def _monitored(self, room_id: str) -> bool:
        monitoring = getattr(self.controller, "monitoring", None)
        monitor = monitoring.get(room_id) if monitoring is not None else None
        return monitor is not None and monitor.running

    async def detail(self, room_id: str) -> RoomDetail:
        controller = self.controller
        room = controller.site.rooms[room_id]
        records = getattr(controller, "routine_records", None)
        alerts = await records.alerts(room=room_id, limit=20) if records else []
        runs = await records.runs(room=room_id, limit=10) if records else []
        prompts = getattr(controller, "prompts", None)
        playbooks = getattr(controller, "playbooks", None)
        audio = controller.config.room(room_id).audio
        return RoomDetail(
            glance=await self.glance(room_id),
            devices=[DeviceView.model_validate(d.view()) for d in room.devices.values()],
            mics=[MicWiring(name=m.name, receiver=m.receiver, channel=m.channel, mixer=m.mixer, input=m.input,
                            spare=m.spare) for m in audio.mics],
            alerts=[Alert.model_validate(a) for a in alerts],
            playbook_runs=[PlaybookRun.model_validate(r) for r in runs],
            prompts=[p.view() for p in prompts.pending(room=room_id)] if prompts is not None else [],
            selftests=[_summary(r) for r in await controller.store.selftests(room=room_id, limit=10)],
            playbooks=[PlaybookKind(kind=kind, title=p.title.model_dump())
                       for kind, p in sorted(playbooks.playbooks(room_id).items())] if playbooks is not None else [],
            simulated_talker=self._simulated_receivers(room_id),
        )


class PageSelfTests:
    """Self-tests started from the console: at most one per room; the speak test's prompts go
    to the console (kind ``prompt`` on the bus, answered at ``POST /api/prompts/{id}``)."""

    def __init__(self, controller) -> None:
        self.controller = controller
        self._running: dict[str, tuple[RunningSelfTest, asyncio.Task]] = {}

    def running_in(self, room_id: str) -> RunningSelfTest | None:
        entry = self._running.get(room_id)
        return entry[0] if entry is not None and not entry[1].done() else None

    def running(self) -> list[RunningSelfTest]:
        return [entry[0] for entry in self._running.values() if not entry[1].done()]

    async def start(self, room_id: str, *, talker: str, meeting_minutes: float | None, actor: str) -> SelfTestStarted:
        if self.running_in(room_id) is not None:
            raise SelfTestBusy(f"a self-test is already running in {room_id}")
        bus = self.controller.bus
        with bus.subscribe(limit=1000) as events:
            task = asyncio.create_task(self.controller.selftest.run(
                room_id, meeting_minutes=meeting_minutes, attended=True, prompt=self._prompter(room_id, talker, actor),
                actor=actor), name=f"selftest {room_id}")
            started = None
            try:
                async with asyncio.timeout(SELFTEST_START_TIMEOUT):
                    while started is None:
                        event = await events.get()
                        if event.kind == "selftest" and event.room == room_id and event.data.get("event") == "started":
                            started = event
            except TimeoutError:
                task.cancel()
                raise SelfTestBusy("the self-test did not start") from None
        record = RunningSelfTest(id=started.data["id"], room=room_id, started_at=started.at, talker=talker, actor=actor)
        self._running[room_id] = (record, task)
        task.add_done_callback(lambda t: self._finished(room_id, t))
        return SelfTestStarted(id=record.id, room=room_id, planned=started.data.get("planned", 0), talker=talker)

    def _finished(self, room_id: str, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("self-test of %s failed to run", room_id, exc_info=task.exception())

    def _prompter(self, room_id: str, talker: str, actor: str):
        prompts = self.controller.prompts
        bus = self.controller.bus
        simulated = None
        if talker == "simulated":
            from controller.simulation import simulated_technician

            simulated = simulated_technician(getattr(self.controller, "placed_simulators", {}))

        async def ask(request: PromptRequest) -> bool:
            prompt = prompts.open(room_id, request.message, timeout=request.within, actor=actor, context={
                "source": "selftest", "prompt_kind": request.kind, "device": request.device,
                "channel": request.channel, "talker": talker})
            helper = asyncio.create_task(self._simulate(simulated, request, prompt.id)) if simulated else None
            try:
                reply = await prompts.wait(prompt, actor=actor)
            except asyncio.CancelledError:
                # The check heard what it wanted and moved on: take the question off the page.
                bus.publish("prompt", room=room_id, actor=actor, data={"event": "withdrawn", "id": prompt.id})
                raise
            finally:
                if helper is not None:
                    helper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await helper
            return reply.answer is Answer.CONFIRMED

        return ask

    async def _simulate(self, simulated, request: PromptRequest, prompt_id: str) -> None:
        answered = await simulated(request)
        self.controller.prompts.answer(prompt_id, confirmed=answered, by="simulated talker")


def console_router(controller, gate, console: Console) -> APIRouter:
    router = APIRouter(tags=["console"])
    errors = {401: {"model": ConsoleError}, 403: {"model": ConsoleError}, 404: {"model": ConsoleError}}

    def room_or_404(room_id: str) -> None:
        if room_id not in controller.site.rooms:
            raise HTTPException(404, {"error": "NotFound", "message": f"no room {room_id!r}"})

    @router.get("/api/console/rooms", responses=errors)
    async def rooms() -> list[RoomGlance]:
        """Every room: ready, warnings, not ready, in a meeting or offline — and why."""
        return [await console.glance(room_id) for room_id in console.room_ids()]

    @router.get("/api/console/rooms/{room_id}", responses=errors)
    async def room(room_id: str) -> RoomDetail:
        """One room for the console: devices with live state, alerts, playbook runs, prompts, reports."""
        room_or_404(room_id)
        return await console.detail(room_id)

    @router.post("/api/rooms/{room_id}/selftest/runs", status_code=202,
                 responses={**errors, 409: {"model": ConsoleError}, 422: {"model": ConsoleError}})
    async def start_selftest(room_id: str, body: SelfTestStart | None = None,
                             who: Caller = Depends(gate.caller)) -> SelfTestStarted:
        """Start the room's self-test and answer at once; progress (kind ``selftest``) and the speak
        test's prompts (kind ``prompt``) come on the live socket; the report is stored at the end."""
        room_or_404(room_id)
        body = body or SelfTestStart()
        if body.talker == "simulated" and not console._simulated_receivers(room_id):
            raise HTTPException(422, {"error": "BadRequest", "field": "talker",
                                      "message": "this room has no simulated mics for a simulated talker"})
        try:
            return await console.selftests.start(room_id, talker=body.talker, meeting_minutes=body.meeting_minutes,
                                                 actor=who.name)
        except SelfTestBusy as exc:
            raise HTTPException(409, {"error": "Conflict", "message": str(exc)}) from None

    @router.get("/api/selftest-runs", responses=errors)
    async def running_selftests(room: str | None = Query(None, max_length=64)) -> list[RunningSelfTest]:
        """Self-tests started from the console that are still running."""
        return [r for r in console.selftests.running() if room is None or r.room == room]

    return router
