"""Fault playbooks (预案): automatic remedies first, then the technician, then the project office.

A run works on one subject — a device, or a channel of it — and one fault kind. It
first looks whether the fault is there at all; then tries the playbook's remedies,
each followed by a look at whether the fault has cleared; then asks the technician
for each manual step and waits for a confirmation (API or terminal), at most the
step's timeout — a step nobody confirms escalates instead of hanging. Escalation
raises an alert (store, bus, MQTT), POSTs it to the project office's webhook when the
room names one, and suggests an alternate room.

Every step is written to the store (with its times and outcome) before it is
published on the bus (kind ``playbook``) or answered to anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from controller.alerts import Alert, new_alert_id
from controller.alternate_room import suggest_alternate_room
from controller.fault_kinds import KINDS, FaultScope, channel_label
from controller.level_limit import next_reduction
from controller.playbook_config import ConfirmStep, PlaybookConfig, RemedyStep
from controller.prompts import Answer
from controller.webhook import post_escalation
from drivers.capabilities import (HasChannelMute, HasFaders, HasHvacMode, HasInputs, HasPower, HasSetpoint,
                                  HasWirelessChannels, HvacMode, Power, SelectInput, SetChannelMute, SetFader,
                                  SetHvacMode, SetPower, SetSetpoint)
from drivers.capabilities.audio import MINUS_INFINITY
from drivers.errors import DeviceError
from drivers.status import Status

log = logging.getLogger(__name__)

# How long each remedy waits (real seconds) for the fault to clear, unless the step says.
# A retry is one more poll; a reconnect a fresh connection (the supervisor's first
# attempt comes at once, its backoff after that is at most 3 s); a power cycle spans a
# projector's cool-down and warm-up; the air-conditioning needs minutes to move a room.
REMEDY_WITHIN = {"retry": 3.0, "reconnect": 8.0, "power_cycle": 180.0, "switch_input": 5.0, "spare_mic": 0.0,
                 "reduce_level": 15.0, "setpoint": 300.0, "command": 5.0}
# A state the device has not reported after this long it does not report (a projector's signal).
UNKNOWN_GRACE = 1.0
# After a technician says "done", the device needs a poll or two to show it.
AFTER_CONFIRM_WITHIN = 5.0
# How often a wait looks at the device besides when the bus says something changed.
RECHECK = 0.1
# Between two level reductions of the clipping playbook.
REDUCE_PAUSE = 0.5


def _t(en: str, zh: str) -> dict[str, str]:
    return {"en": en, "zh": zh}


_DEFAULTS: dict[str, dict[str, Any]] = {
    "device-offline": {
        "title": _t("Device offline", "设备离线"),
        "steps": [{"remedy": "retry"}, {"remedy": "reconnect"},
                  {"confirm": _t("Check {device}: its power and its cable (network or RS-232); power-cycle it by hand.",
                                 "检查{device}的电源和线缆（网线或串口线），并手动断电重启。")}],
    },
    "projector-lamp": {
        "title": _t("Projector lamp failure", "投影机灯泡故障"),
        "steps": [{"remedy": "retry"}, {"remedy": "power_cycle"},
                  {"confirm": _t("Replace the lamp of {device}, or set up the spare projector.",
                                 "更换{device}的灯泡，或启用备用投影机。")}],
    },
    "projector-over-temperature": {
        "title": _t("Projector over temperature", "投影机过热"),
        "steps": [{"remedy": "power_cycle"},
                  {"confirm": _t("Clear the vents of {device} and check the room's air-conditioning; confirm once it "
                                 "has cooled.", "清理{device}的通风口并检查空调，冷却后确认。")}],
    },
    "projector-cover": {
        "title": _t("Projector lamp cover open", "投影机灯罩未关"),
        "steps": [{"remedy": "retry"},
                  {"confirm": _t("Close and latch the lamp cover of {device}.", "关好并扣紧{device}的灯罩。")}],
    },
    "no-input-signal": {
        "title": _t("No input signal", "无输入信号"),
        "steps": [{"remedy": "switch_input"},
                  {"confirm": _t("Check the source connected to {device} and its cable; confirm the picture is back.",
                                 "检查接入{device}的信号源及线缆，确认画面恢复。")}],
    },
    "mic-battery-low": {
        "title": _t("Mic battery low", "话筒电量不足"),
        "steps": [{"remedy": "spare_mic"},
                  {"confirm": _t("Hand {spare} to the speaker at {mic}, or fit a charged battery in {mic}.",
                                 "将{spare}交给{mic}的发言人，或为{mic}更换充满电的电池。")}],
    },
    "mic-transmitter-off": {
        "title": _t("Mic transmitter off", "话筒发射机未开"),
        "steps": [{"remedy": "retry"}, {"remedy": "spare_mic"},
                  {"confirm": _t("Switch {mic} on, or hand {spare} to its speaker.",
                                 "打开{mic}，或将{spare}交给其发言人。")}],
    },
    "rf-loss": {
        "title": _t("RF loss", "无线信号丢失"),
        "steps": [{"remedy": "retry"}, {"remedy": "spare_mic"},
                  {"confirm": _t("Check the antennas of {device}; bring {mic} back in range, or hand over {spare}.",
                                 "检查{device}的天线；让{mic}回到接收范围内，或换用{spare}。")}],
    },
    "interference": {
        "title": _t("RF interference", "无线干扰"),
        "steps": [{"remedy": "retry"}, {"remedy": "spare_mic"},
                  {"confirm": _t("Scan for a clear frequency for {mic} and sync its transmitter.",
                                 "为{mic}扫描空闲频点并重新同步发射机。")}],
    },
    "clipping": {
        "title": _t("Clipping", "削波失真"),
        "steps": [{"remedy": "reduce_level"},
                  {"confirm": _t("Ask the speaker at {mic} to hold the mic a little further away; check its gain.",
                                 "请{mic}的发言人将话筒稍远离嘴部，并检查增益。")}],
    },
    "climate-not-reaching-target": {
        "title": _t("Climate not reaching target", "室温未达标"),
        "steps": [{"remedy": "setpoint"},
                  {"confirm": _t("Check the air-conditioning ({device}) and that windows and doors are shut.",
                                 "检查空调（{device}），并确认门窗已关闭。")}],
    },
}
DEFAULT_PLAYBOOKS: dict[str, PlaybookConfig] = {kind: PlaybookConfig.model_validate(spec)
                                                for kind, spec in _DEFAULTS.items()}

Outcome = Literal["running", "waiting", "present", "absent", "unknown", "resolved", "mitigated", "done", "failed",
                  "skipped", "confirmed", "declined", "unanswered", "sent"]


class StepRecord(BaseModel):
    index: int
    kind: Literal["observe", "remedy", "confirm", "escalate"]
    name: str
    what: dict[str, str]
    started_at: datetime
    finished_at: datetime | None = None
    outcome: Outcome = "running"
    detail: str | None = None
    prompt_id: str | None = None
    answered_by: str | None = None
    data: dict[str, Any] = {}


class PlaybookRun(BaseModel):
    id: str
    room: str
    kind: str
    title: dict[str, str]
    device: str
    device_name: str
    channel: int | None = None
    subject: str  # "Main projector", "Mic 2 — Chair"
    actor: str
    trigger: str | None = None  # the alert that started it, or None when a person did
    started_at: datetime
    finished_at: datetime | None = None
    outcome: Literal["running", "no_fault", "resolved", "mitigated", "escalated", "unresolved", "aborted",
                     "failed"] = "running"
    steps: list[StepRecord] = []
    escalation: dict[str, Any] | None = None
    error: str | None = None


class PlaybookError(Exception):
    """A run that cannot start: unknown kind, no device that can have the fault."""


class UnknownPlaybook(PlaybookError):
    pass


class _Execution:
    def __init__(self, run: PlaybookRun, playbook: PlaybookConfig, need_minutes: float) -> None:
        self.run = run
        self.playbook = playbook
        self.need_minutes = need_minutes
        self.device = run.device  # the subject; a spare mic takes over from a failing one
        self.channel = run.channel
        self.original = (run.device, run.channel)
        self.spare: str | None = None  # the spare's label once the speaker has been moved to it
        self.waiting_prompt: str | None = None


class PlaybookEngine:
    def __init__(self, controller, *, records, prompts, alerts) -> None:
        self.controller = controller
        self.records = records
        self.prompts = prompts
        self.alerts = alerts
        self._executions: dict[str, _Execution] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    @property
    def site(self):
        return self.controller.site

    # --- what there is -------------------------------------------------------------------

    def playbooks(self, room_id: str) -> dict[str, PlaybookConfig]:
        """The built-in playbooks with the room's own over them."""
        return {**DEFAULT_PLAYBOOKS, **self.controller.config.room(room_id).playbooks.kinds}

    def playbook(self, room_id: str, kind: str) -> PlaybookConfig:
        playbooks = self.playbooks(room_id)
        if kind not in playbooks:
            raise UnknownPlaybook(f"no playbook {kind!r} in room {room_id}; there are {', '.join(sorted(playbooks))}")
        return playbooks[kind]

    # --- running -------------------------------------------------------------------------

    async def start(self, room_id: str, kind: str, *, device: str | None = None, channel: int | None = None,
                    actor: str, trigger: str | None = None, need_minutes: float | None = None) -> PlaybookRun:
        """Record the run and start it in the background; returns the run as first stored."""
        if room_id not in self.site.rooms:
            raise PlaybookError(f"no room {room_id!r}")
        playbook = self.playbook(room_id, kind)
        need = need_minutes if need_minutes is not None else self._need_minutes(room_id)
        runtime, channel = self._subject(room_id, kind, device, channel, need)
        run = PlaybookRun(
            id=uuid.uuid4().hex[:12], room=room_id, kind=kind, title=playbook.title.model_dump(), device=runtime.id,
            device_name=runtime.config.name or runtime.id, channel=channel,
            subject=channel_label(runtime, channel, self.controller.config.room(room_id).audio),
            actor=actor, trigger=trigger, started_at=self.controller.clock.now(),
        )
        execution = _Execution(run, playbook, need)
        await self._save(execution, "started")
        self._executions[run.id] = execution
        self._tasks[run.id] = asyncio.create_task(self._execute(execution), name=f"playbook {room_id}/{kind}")
        return run.model_copy(deep=True)

    async def run(self, room_id: str, kind: str, **options: Any) -> PlaybookRun:
        """Start a run and wait for its end."""
        run = await self.start(room_id, kind, **options)
        return await self.wait(run.id)

    async def wait(self, run_id: str, timeout: float | None = None) -> PlaybookRun:
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        stored = await self.records.run(run_id)
        if stored is None:
            raise PlaybookError(f"no playbook run {run_id!r}")
        return PlaybookRun.model_validate(stored)

    def waiting_prompt(self, run_id: str) -> str | None:
        execution = self._executions.get(run_id)
        return execution.waiting_prompt if execution is not None else None

    def confirm(self, run_id: str, *, confirmed: bool, by: str, note: str | None = None) -> bool:
        """Answer the step a run waits on; False when it waits on nothing."""
        prompt_id = self.waiting_prompt(run_id)
        return prompt_id is not None and self.prompts.answer(prompt_id, confirmed=confirmed, by=by, note=note)

    def running(self) -> list[str]:
        return [run_id for run_id, task in self._tasks.items() if not task.done()]

    async def stop(self) -> None:
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- the subject ---------------------------------------------------------------------

    def _need_minutes(self, room_id: str) -> float:
        """How long a mic battery must last: the monitored meeting's rest, else the room's usual meeting."""
        monitoring = getattr(self.controller, "monitoring", None)
        if monitoring is not None:
            need = monitoring.battery_need_minutes(room_id)
            if need is not None:
                return need
        room = self.controller.config.room(room_id)
        return room.selftest.meeting_minutes + room.monitoring.battery_margin_minutes

    def _scope(self, runtime, channel: int | None, need_minutes: float) -> FaultScope:
        band = tuple(self.controller.config.room(runtime.room).monitoring.temperature_band)
        return FaultScope(runtime, channel, need_minutes=need_minutes, band=band)

    def _subject(self, room_id: str, kind: str, device_id: str | None, channel: int | None, need: float):
        room = self.site.rooms[room_id]
        fault = KINDS.get(kind)
        if device_id is not None:
            runtime = room.devices.get(device_id)
            if runtime is None:
                raise PlaybookError(f"no device {device_id!r} in room {room_id}")
            if fault is not None and not fault.applies(runtime.device):
                raise PlaybookError(f"{device_id} cannot have the fault {kind} (it has no "
                                    f"{' or '.join(c.name for c in fault.applies_to)} capability)")
            candidates = [runtime]
        else:
            candidates = [d for d in room.devices.values() if fault is None or fault.applies(d.device)]
            if not candidates:
                raise PlaybookError(f"no device in room {room_id} can have the fault {kind}")
        if fault is None:
            return candidates[0], channel
        for runtime in candidates:  # the device (and channel) where the fault is, if it is anywhere
            channels = [channel] if channel is not None or not fault.per_channel else \
                list(getattr(runtime.device, "channel_numbers", lambda: ())())
            for number in channels or [None]:
                if fault.detect(self._scope(runtime, number, need)):
                    return runtime, number
        runtime = candidates[0]
        if fault.per_channel and channel is None:
            numbers = getattr(runtime.device, "channel_numbers", lambda: ())()
            channel = numbers[0] if numbers else None
        return runtime, channel

    def _present(self, execution: _Execution) -> bool | None:
        fault = KINDS.get(execution.run.kind)
        if fault is None:
            return None
        runtime = self.site.device(execution.run.room, execution.device)
        return fault.detect(self._scope(runtime, execution.channel, execution.need_minutes))

    async def _cleared_within(self, execution: _Execution, seconds: float) -> bool | None:
        """True once the fault is gone; False if still there after ``seconds``; None if it cannot be told."""
        began = time.monotonic()
        deadline = began + seconds
        with self.controller.bus.subscribe(limit=100) as changes:
            while True:
                present = self._present(execution)
                if present is False:
                    return True
                left = deadline - time.monotonic()
                if present is None and time.monotonic() - began >= UNKNOWN_GRACE:
                    return None  # the device does not report this at all: waiting longer tells nothing
                if left <= 0:
                    return None if present is None else False
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(left, RECHECK)):
                        await changes.get()

    # --- the run -------------------------------------------------------------------------

    async def _execute(self, execution: _Execution) -> None:
        run = execution.run
        try:
            present = await self._observe(execution)
            if present is False:
                await self._finish(execution, "no_fault")
                return
            for step in execution.playbook.steps:
                if isinstance(step, RemedyStep):
                    outcome = await self._remedy(execution, step)
                    if outcome == "resolved":
                        await self._finish(execution, "mitigated" if execution.spare else "resolved")
                        return
                    continue
                outcome = await self._confirm(execution, step)
                if outcome == "resolved":
                    await self._finish(execution, "mitigated" if execution.spare else "resolved")
                    return
                if outcome == "unanswered":
                    break  # nobody is there to do the rest: escalate now
            if execution.playbook.escalate:
                await self._escalate(execution)
                await self._finish(execution, "escalated")
            else:
                await self._finish(execution, "unresolved")
        except asyncio.CancelledError:
            await asyncio.shield(self._finish(execution, "aborted"))
            raise
        except Exception as exc:  # a bug in a remedy must end the run on record, not leave it running
            log.exception("playbook %s %s failed", run.kind, run.id)
            run.error = f"{type(exc).__name__}: {exc}"
            await self._finish(execution, "failed")
        finally:
            self._executions.pop(run.id, None)

    async def _observe(self, execution: _Execution) -> bool | None:
        record = await self._begin(execution, "observe", "observe",
                                   _t(f"look for {execution.run.title['en'].lower()} on {execution.run.subject}",
                                      f"检查{execution.run.subject}是否{execution.run.title['zh']}"))
        present = self._present(execution)
        outcome = {True: "present", False: "absent", None: "unknown"}[present]
        await self._end(execution, record, outcome)
        return present

    async def _begin(self, execution: _Execution, kind: str, name: str, what: dict[str, str], **fields) -> StepRecord:
        record = StepRecord(index=len(execution.run.steps) + 1, kind=kind, name=name, what=what,
                            started_at=self.controller.clock.now(), **fields)
        execution.run.steps.append(record)
        await self._save(execution, "step")
        return record

    async def _end(self, execution: _Execution, record: StepRecord, outcome: str, detail: str | None = None,
                   **data: Any) -> str:
        record.outcome = outcome
        record.detail = detail
        record.data.update(data)
        record.finished_at = self.controller.clock.now()
        await self._save(execution, "step")
        return outcome

    async def _finish(self, execution: _Execution, outcome: str) -> None:
        execution.run.outcome = outcome
        execution.run.finished_at = self.controller.clock.now()
        for record in execution.run.steps:  # a run cut short leaves no step running
            if record.finished_at is None:
                record.outcome, record.finished_at = "failed", execution.run.finished_at
                record.detail = record.detail or f"the run ended ({outcome})"
        await self._save(execution, "finished")

    async def _save(self, execution: _Execution, event: str) -> None:
        """Commit, then tell: the bus hears of a step only once it is in the store."""
        run = execution.run
        await self.records.save_run(run.model_dump(mode="json"))
        last = run.steps[-1] if run.steps else None
        self.controller.bus.publish(
            "playbook", room=run.room, device=run.device, actor=run.actor,
            data={"run": run.id, "kind": run.kind, "event": event, "outcome": run.outcome,
                  **({"step": last.index, "name": last.name, "step_outcome": last.outcome,
                      "prompt": last.prompt_id} if last is not None and event == "step" else {})})

    # --- remedies ------------------------------------------------------------------------

    async def _remedy(self, execution: _Execution, step: RemedyStep) -> str:
        within = step.within if step.within is not None else REMEDY_WITHIN[step.remedy]
        device_id = step.device or execution.device
        runtime = self.site.rooms[execution.run.room].devices[device_id]
        label = runtime.config.name or runtime.id
        act = getattr(self, f"_remedy_{step.remedy}")
        return await act(execution, step, runtime, label, within)

    async def _settle(self, execution: _Execution, record: StepRecord, within: float, **data: Any) -> str:
        cleared = await self._cleared_within(execution, within)
        if cleared:
            return await self._end(execution, record, "resolved", **data)
        if cleared is None:
            return await self._end(execution, record, "done", "the device does not say whether this fixed it", **data)
        return await self._end(execution, record, "failed", f"the fault is still there after {within:g} s", **data)

    async def _remedy_retry(self, execution, step, runtime, label, within) -> str:
        record = await self._begin(execution, "remedy", "retry", _t(f"poll {label} again", f"重新查询{label}"))
        runtime.supervisor.refresh_soon()
        return await self._settle(execution, record, within)

    async def _remedy_reconnect(self, execution, step, runtime, label, within) -> str:
        record = await self._begin(execution, "remedy", "reconnect",
                                   _t(f"reconnect to {label}", f"重新连接{label}"))
        # A fresh connection now, instead of at the end of the supervisor's backoff.
        await runtime.supervisor.stop()
        runtime.supervisor.start()
        return await self._settle(execution, record, within)

    async def _remedy_power_cycle(self, execution, step, runtime, label, within) -> str:
        record = await self._begin(execution, "remedy", "power_cycle",
                                   _t(f"power {label} off and on again", f"{label}断电重启"))
        if not isinstance(runtime.device, HasPower):
            return await self._end(execution, record, "skipped", f"{label} has no power control")
        if runtime.supervisor.status not in (Status.ONLINE, Status.FAULT):
            return await self._end(execution, record, "failed", f"{label} is {runtime.supervisor.status.value}")
        state = runtime.device.state
        deadline = time.monotonic() + within
        try:
            await self._execute_command(execution, runtime, SetPower(on=False))
            if not await _wait_for(lambda: state.get("power") is Power.OFF, deadline):
                return await self._end(execution, record, "failed", f"not off within {within:g} s "
                                                                    f"(power: {state.get('power')})")
            await self._execute_command(execution, runtime, SetPower(on=True))
        except DeviceError as exc:
            return await self._end(execution, record, "failed", f"{type(exc).__name__}: {exc}")
        if not await _wait_for(lambda: state.get("power") is Power.ON, deadline):
            return await self._end(execution, record, "failed", f"not back on within {within:g} s "
                                                                f"(power: {state.get('power')})")
        return await self._settle(execution, record, AFTER_CONFIRM_WITHIN)

    async def _remedy_switch_input(self, execution, step, runtime, label, within) -> str:
        fallback = step.input or self.controller.config.room(execution.run.room).playbooks.fallback_inputs.get(runtime.id)
        record = await self._begin(execution, "remedy", "switch_input",
                                   _t(f"switch {label} to input {fallback or '(none configured)'}",
                                      f"将{label}切换到输入 {fallback or '（未配置）'}"))
        if not isinstance(runtime.device, HasInputs):
            return await self._end(execution, record, "skipped", f"{label} has no inputs")
        if fallback is None:
            return await self._end(execution, record, "skipped",
                                   f"no fallback input for {runtime.id} (playbooks.fallback_inputs)")
        try:
            await self._execute_command(execution, runtime, SelectInput(input=fallback))
        except DeviceError as exc:
            return await self._end(execution, record, "failed", f"{type(exc).__name__}: {exc}")
        return await self._settle(execution, record, within, input=fallback)

    async def _remedy_command(self, execution, step, runtime, label, within) -> str:
        record = await self._begin(execution, "remedy", "command",
                                   _t(f"send {step.command.type} to {label}", f"向{label}发送 {step.command.type}"))
        try:
            await self._execute_command(execution, runtime, step.command)
        except DeviceError as exc:
            return await self._end(execution, record, "failed", f"{type(exc).__name__}: {exc}")
        return await self._settle(execution, record, within)

    async def _remedy_reduce_level(self, execution, step, runtime, label, within) -> str:
        record = await self._begin(execution, "remedy", "reduce_level",
                                   _t(f"lower the level of {execution.run.subject}", f"降低{execution.run.subject}的电平"))
        channel = execution.channel
        if channel is None:
            return await self._end(execution, record, "skipped", "no channel to lower")
        settings = self.controller.config.room(execution.run.room).monitoring
        deadline = time.monotonic() + within
        moves = []
        while True:
            if self._present(execution) is False:
                return await self._end(execution, record, "resolved", moves=moves)
            reduction = next_reduction(runtime.device, channel, step_db=settings.clip_step_db,
                                       fader_floor_db=settings.fader_floor_db, gain_floor_db=settings.gain_floor_db)
            if reduction is None:
                return await self._end(execution, record, "failed", "at its floor and still clipping", moves=moves)
            try:
                await self._execute_command(execution, runtime, reduction.command)
            except DeviceError as exc:
                return await self._end(execution, record, "failed", f"{type(exc).__name__}: {exc}", moves=moves)
            moves.append({"what": reduction.what, "from_db": reduction.before_db, "to_db": reduction.after_db})
            if time.monotonic() >= deadline:
                return await self._settle(execution, record, 0.0, moves=moves)
            if await self._cleared_within(execution, min(REDUCE_PAUSE, max(0.0, deadline - time.monotonic()))):
                return await self._end(execution, record, "resolved", moves=moves)

    async def _remedy_setpoint(self, execution, step, runtime, label, within) -> str:
        room = self.site.rooms[execution.run.room]
        unit = runtime if isinstance(runtime.device, HasSetpoint) else next(
            (d for d in room.devices.values() if isinstance(d.device, HasSetpoint)), None)
        low, high = self.controller.config.room(execution.run.room).monitoring.temperature_band
        record = await self._begin(execution, "remedy", "setpoint",
                                   _t(f"set the air-conditioning to the middle of {low:g}–{high:g} °C",
                                      f"将空调设定在 {low:g}–{high:g} °C 的中间值"))
        if unit is None:
            return await self._end(execution, record, "skipped", "no unit with a setpoint in this room")
        allowed = unit.device.setpoint_range()
        target = (low + high) / 2
        target = allowed.minimum + round((target - allowed.minimum) / allowed.step) * allowed.step
        target = min(allowed.maximum, max(allowed.minimum, round(target, 2)))
        try:
            if isinstance(unit.device, HasHvacMode) and unit.device.state.get("hvac_mode") in (HvacMode.OFF, None):
                modes = unit.device.hvac_modes()
                temperature = runtime.device.state.get("temperature")
                wanted = HvacMode.AUTO if HvacMode.AUTO in modes else (
                    HvacMode.COOL if temperature is not None and temperature > high else HvacMode.HEAT)
                if wanted in modes:
                    await self._execute_command(execution, unit, SetHvacMode(mode=wanted))
            await self._execute_command(execution, unit, SetSetpoint(celsius=target))
        except DeviceError as exc:
            return await self._end(execution, record, "failed", f"{type(exc).__name__}: {exc}")
        return await self._settle(execution, record, within, setpoint=target)

    async def _remedy_spare_mic(self, execution, step, runtime, label, within) -> str:
        record = await self._begin(execution, "remedy", "spare_mic",
                                   _t(f"move the speaker at {execution.run.subject} to a spare mic",
                                      f"将{execution.run.subject}的发言人换到备用话筒"))
        room_id = execution.run.room
        audio = self.controller.config.room(room_id).audio
        if execution.channel is None or not isinstance(runtime.device, HasWirelessChannels):
            return await self._end(execution, record, "skipped", "the fault is not on a mic")
        spares = [m for m in audio.mics if m.spare and (m.receiver, m.channel) != (runtime.id, execution.channel)]
        if not spares:
            return await self._end(execution, record, "skipped", "no spare mic in this room (audio.mics, spare: true)")
        chosen, refused = None, []
        for mic in spares:
            spare = self.site.rooms[room_id].devices[mic.receiver]
            problem = self._spare_problem(execution, spare, mic.channel)
            if problem is None:
                chosen = mic
                break
            refused.append(f"{mic.label}: {problem}")
        if chosen is None:
            return await self._end(execution, record, "failed", "no spare mic ready — " + "; ".join(refused))
        failing = next((m for m in audio.mics if (m.receiver, m.channel) == (runtime.id, execution.channel)), None)
        moves = await self._route_spare(execution, failing, chosen)
        execution.device, execution.channel, execution.spare = chosen.receiver, chosen.channel, chosen.label
        return await self._end(execution, record, "mitigated", f"{chosen.label} is ready for the speaker",
                               spare=f"{chosen.receiver}/{chosen.channel}", spare_label=chosen.label, mixer=moves)

    def _spare_problem(self, execution: _Execution, spare, channel: int) -> str | None:
        """Why a spare cannot take over; None when it can (on, charged enough, heard clearly)."""
        if spare.supervisor.status not in (Status.ONLINE, Status.FAULT):
            return f"its receiver is {spare.supervisor.status.value}"
        scope = self._scope(spare, channel, execution.need_minutes)
        for kind, problem in (("mic-transmitter-off", "switched off"), ("mic-battery-low", "battery low"),
                              ("rf-loss", "no RF"), ("interference", "interference")):
            if KINDS[kind].detect(scope):
                return problem
        if KINDS["mic-transmitter-off"].detect(scope) is None:
            return "not reporting"
        return None

    async def _route_spare(self, execution: _Execution, failing, spare) -> list[dict[str, Any]]:
        """Give the spare's mixer input the failing one's fader level, open it, and close the failing one."""
        if failing is None or failing.mixer is None or spare.mixer is None:
            return []
        room = self.site.rooms[execution.run.room]
        old, new = room.devices[failing.mixer], room.devices[spare.mixer]
        level = old.device.state.get("faders", {}).get(failing.input) if isinstance(old.device, HasFaders) else None
        commands = []
        if level is not None and level != MINUS_INFINITY and isinstance(new.device, HasFaders):
            commands.append((new, SetFader(channel=spare.input, db=level)))
        if isinstance(new.device, HasChannelMute):
            commands.append((new, SetChannelMute(channel=spare.input, muted=False)))
        if isinstance(old.device, HasChannelMute):
            commands.append((old, SetChannelMute(channel=failing.input, muted=True)))
        moves = []
        for runtime, command in commands:
            try:
                await self._execute_command(execution, runtime, command)
                moves.append({"device": runtime.id, "command": command.model_dump(), "ok": True})
            except DeviceError as exc:
                moves.append({"device": runtime.id, "command": command.model_dump(), "ok": False,
                              "error": f"{type(exc).__name__}: {exc}"})
        return moves

    async def _execute_command(self, execution: _Execution, runtime, command) -> None:
        await self.site.execute(execution.run.room, runtime.id, command, actor=f"playbook {execution.run.kind}")

    # --- the technician ------------------------------------------------------------------

    async def _confirm(self, execution: _Execution, step: ConfirmStep) -> str:
        run = execution.run
        settings = self.controller.config.room(run.room).playbooks
        timeout = step.timeout if step.timeout is not None else settings.confirm_timeout
        runtime = self.site.device(run.room, run.device)
        values = {"device": runtime.config.name or runtime.id, "mic": run.subject,
                  "spare": execution.spare or "a spare mic"}
        values_zh = {**values, "spare": execution.spare or "备用话筒"}
        message = {"en": _fill(step.confirm.en, values), "zh": _fill(step.confirm.zh, values_zh)}
        prompt = self.prompts.open(run.room, message, timeout=timeout, actor=run.actor,
                                   context={"source": "playbook", "run": run.id, "kind": run.kind,
                                            "step": len(run.steps) + 1})
        execution.waiting_prompt = prompt.id  # answerable by the run's id as soon as anyone can see it
        record = await self._begin(execution, "confirm", "confirm", message, prompt_id=prompt.id, outcome="waiting")
        try:
            reply = await self.prompts.wait(prompt, actor=run.actor)
        finally:
            execution.waiting_prompt = None
        record.answered_by = reply.by
        if reply.answer is Answer.UNANSWERED:
            return await self._end(execution, record, "unanswered", f"nobody confirmed within {timeout:g} s")
        if reply.answer is Answer.DECLINED:
            return await self._end(execution, record, "declined", reply.note)
        self.site.device(run.room, execution.device).supervisor.refresh_soon()
        cleared = await self._cleared_within(execution, AFTER_CONFIRM_WITHIN)
        if cleared is False:
            await self._end(execution, record, "confirmed", "confirmed, but the device still reports the fault"
                            + (f" — {reply.note}" if reply.note else ""))
            return "confirmed"
        await self._end(execution, record, "confirmed", reply.note)
        return "resolved"

    # --- the project office --------------------------------------------------------------

    async def _escalate(self, execution: _Execution) -> None:
        run = execution.run
        room = self.controller.config.room(run.room)
        record = await self._begin(execution, "escalate", "escalate",
                                   _t("alert the project office", "报告项目办"))
        alternate = None
        if execution.playbook.alternate_room:
            fault = KINDS.get(run.kind)
            runtime = self.site.device(run.room, run.device)
            needs = list(fault.needs) if fault is not None and fault.needs else list(runtime.device.capabilities)
            alternate = await suggest_alternate_room(self.controller, run.room, needs=needs)
        suggestion_en = suggestion_zh = ""
        if alternate is not None and alternate["room"]:
            suggestion_en = f" Suggested alternate room: {alternate['name']} ({alternate['room']})."
            suggestion_zh = f"建议备用会议室：{alternate['name']}（{alternate['room']}）。"
        elif alternate is not None:
            suggestion_en, suggestion_zh = " No alternate room is free and ready.", "没有空闲且自检通过的备用会议室。"
        tried = [f"{s.name}: {s.outcome}" for s in run.steps if s.kind in ("remedy", "confirm")]
        fault = KINDS.get(run.kind)
        alert = Alert(
            id=new_alert_id(), room=run.room, kind=run.kind, severity=fault.severity if fault else "critical",
            message=_t(f"{run.title['en']}: {run.subject} in {self.site.rooms[run.room].name} — not fixed by the "
                       f"playbook.{suggestion_en}",
                       f"{self.site.rooms[run.room].name}{run.subject}{run.title['zh']}，预案未能排除。{suggestion_zh}"),
            at=self.controller.clock.now(), device=run.device, channel=run.channel, source="playbook",
            playbook=run.kind, playbook_url=f"/api/playbook-runs/{run.id}",
            data={"run": run.id, "tried": tried, "alternate_room": alternate},
        )
        await self.alerts.raise_alert(alert)
        escalation: dict[str, Any] = {"alert": alert.id, "alternate_room": alternate,
                                      "mqtt": getattr(self.controller, "mqtt", None) is not None}
        if room.playbooks.webhook:
            payload = {"site": self.controller.config.site, "alert": alert.model_dump(mode="json"),
                       "run": {"id": run.id, "kind": run.kind, "title": run.title, "subject": run.subject,
                               "device": run.device, "channel": run.channel, "started_at": run.started_at.isoformat(),
                               "steps": [{"name": s.name, "outcome": s.outcome, "detail": s.detail}
                                         for s in run.steps]},
                       "room": {"id": run.room, "name": self.site.rooms[run.room].name},
                       "alternate_room": alternate}
            escalation["webhook"] = await post_escalation(room.playbooks.webhook, payload,
                                                          timeout=room.playbooks.webhook_timeout)
        run.escalation = escalation
        detail = f"alert {alert.id}" + (f"; alternate room {alternate['room']}" if alternate and alternate["room"] else "")
        if "webhook" in escalation:
            hook = escalation["webhook"]
            detail += f"; webhook {hook.get('status') or hook.get('error')}"
        await self._end(execution, record, "sent", detail, **escalation)


def _fill(template: str, values: dict[str, str]) -> str:
    """{device}, {mic}, {spare}; other braces are left as written."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


async def _wait_for(predicate, deadline: float) -> bool:
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(RECHECK)
    return True
