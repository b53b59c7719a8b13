"""Recalling a room's scene: run its steps, report each one's result and duration.

One scene runs per room at a time: a newer recall cancels the one still running (the
host changed their mind), and the cancelled recall reports what it had done.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel

from controller.scene_config import CommandStep, DelayStep, ParallelStep, SceneConfig, WaitStep
from drivers.errors import DeviceError

# How often a wait step looks at a device's state besides when the bus says it changed.
WAIT_RECHECK = 0.25


class StepResult(BaseModel):
    step: str  # "2" or "2.1" inside a parallel step
    kind: str  # command, wait, delay
    device: str | None = None
    what: str
    ok: bool
    error: str | None = None
    detail: str | None = None
    started_ms: float  # since the recall began
    duration_ms: float
    skipped: bool = False


class SceneResult(BaseModel):
    room: str
    scene: str
    ok: bool
    cancelled: bool = False
    duration_ms: float
    steps: list[StepResult]
    playbooks_requested: list[str] = []


class SceneNotFound(KeyError):
    pass


class SceneEngine:
    def __init__(self, site, bus) -> None:
        self.site = site
        self.bus = bus
        self._running: dict[str, asyncio.Task] = {}

    def scenes(self, room_id: str) -> dict[str, SceneConfig]:
        return self.site.scene_configs(room_id)

    async def recall(self, room_id: str, scene_id: str, *, actor: str) -> SceneResult:
        scenes = self.scenes(room_id)
        if scene_id not in scenes:
            raise SceneNotFound(scene_id)
        previous = self._running.get(room_id)
        if previous is not None and not previous.done():
            previous.cancel()  # the latest recall wins
        task = asyncio.create_task(self._run(room_id, scene_id, scenes[scene_id], actor), name=f"scene {room_id}/{scene_id}")
        self._running[room_id] = task
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() or not task.done():
                raise
            return task.result()

    async def _run(self, room_id: str, scene_id: str, scene: SceneConfig, actor: str) -> SceneResult:
        run = _Run(self, room_id, actor, scene_id)
        self.bus.publish("scene", room=room_id, data={"scene": scene_id, "event": "started"}, actor=actor)
        cancelled = False
        try:
            for index, step in enumerate(scene.steps, start=1):
                if not await run.step(str(index), step):
                    break
        except asyncio.CancelledError:
            cancelled = True
        result = SceneResult(
            room=room_id, scene=scene_id, ok=not cancelled and run.ok, cancelled=cancelled,
            duration_ms=run.elapsed_ms(), steps=run.results, playbooks_requested=run.playbooks,
        )
        self.bus.publish("scene", room=room_id, data={"scene": scene_id, "event": "finished", "ok": result.ok,
                                                       "cancelled": cancelled, "duration_ms": result.duration_ms},
                         actor=actor)
        for playbook in run.playbooks:
            self.bus.publish("playbook_requested", room=room_id, data={"playbook": playbook, "scene": scene_id},
                             actor=actor)
        return result


class _Run:
    def __init__(self, engine: SceneEngine, room_id: str, actor: str, scene_id: str = "") -> None:
        self.engine = engine
        self.room_id = room_id
        self.scene_id = scene_id
        self.actor = actor
        self.start = time.monotonic()
        self.results: list[StepResult] = []
        self.playbooks: list[str] = []
        self.ok = True

    def elapsed_ms(self, since: float | None = None) -> float:
        return round((time.monotonic() - (self.start if since is None else since)) * 1000, 2)

    async def step(self, label: str, step) -> bool:
        """Run one step; False when the scene must stop."""
        if isinstance(step, ParallelStep):
            outcomes = await asyncio.gather(*(self.step(f"{label}.{i}", s) for i, s in enumerate(step.parallel, 1)))
            return all(outcomes)
        began = time.monotonic()
        started_ms = self.elapsed_ms()
        error = detail = None
        try:
            if isinstance(step, CommandStep):
                kind, device, what = "command", step.device, _describe(step.command)
                async with asyncio.timeout(step.timeout):
                    await self.engine.site.execute(self.room_id, step.device, step.command, actor=self.actor)
            elif isinstance(step, WaitStep):
                kind, device, what = "wait", step.wait.device, f"{step.wait.state} = {step.wait.equals}"
                await self._wait(step)
            else:
                kind, device, what = "delay", None, f"{step.delay:g} s"
                await asyncio.sleep(step.delay)
        except TimeoutError:
            error, detail = "Timeout", f"not done within {step.timeout:g} s"
        except DeviceError as exc:
            error, detail = type(exc).__name__, str(exc)
        result = StepResult(step=label, kind=kind, device=device, what=what, ok=error is None, error=error,
                            detail=detail, started_ms=started_ms, duration_ms=self.elapsed_ms(began))
        self.results.append(result)
        # Progress for the pages (the tablet's scene button): one event per step done.
        self.engine.bus.publish("scene", room=self.room_id, actor=self.actor,
                                data={"scene": self.scene_id, "event": "step", "step": label, "ok": result.ok,
                                      "what": result.what, "device": result.device})
        if result.ok:
            return True
        self.ok = False  # the scene did not all happen, whatever the policy says to do next
        policy = getattr(step, "on_failure", "stop")
        if policy == "continue":
            return True
        if policy.startswith("playbook:"):
            self.playbooks.append(policy.split(":", 1)[1].strip())
            return True
        return False

    async def _wait(self, step: WaitStep) -> None:
        runtime = self.engine.site.device(self.room_id, step.wait.device)
        want = step.wait.equals
        with self.engine.bus.subscribe(limit=100) as changes:
            async with asyncio.timeout(step.timeout):
                while runtime.device.snapshot().get(step.wait.state) != want:
                    try:
                        async with asyncio.timeout(WAIT_RECHECK):
                            await changes.get()
                    except TimeoutError:
                        pass


def _describe(command: Any) -> str:
    fields = command.model_dump(exclude={"type"})
    return command.type + (" " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None) if fields else "")
