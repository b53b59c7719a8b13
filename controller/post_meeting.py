"""After the meeting: count the mics, check them, restore the room, shut it down, sign the log.

1. **Inventory.** Every receiver channel is a mic the room owns (spares included). A
   transmitter still on and heard is in the room: the technician is asked to switch it
   off, and roomctl watches it go off. One still on but no longer heard (RF lost) has
   left the room: it is *missing*, by name. One already off is accounted for by the
   technician's check below.
2. **Damage check.** For every mic not missing the technician confirms "back and
   undamaged" (API or terminal); no answer within the timeout is recorded as *not
   confirmed*, a "no" as *damaged or missing* with the technician's note.
3. **Baseline.** The mixer snapshot and/or the room scene that hold the room's baseline.
4. **Shutdown.** The room's shutdown scene; without one, every device with power is
   switched off and the air-conditioning set to off.
5. **Session log.** What happened during the session (alerts, playbook runs) and in
   this routine, as canonical JSON; signed = a record with the technician's name, the
   time and the SHA-256 of that content, committed before anyone is told.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from controller.fault_kinds import KINDS, FaultScope, channel_label
from controller.prompts import Answer
from controller.scenes import SceneNotFound
from drivers.capabilities import (HasHvacMode, HasPower, HasWirelessChannels, HvacMode, RecallScene, SetHvacMode,
                                  SetPower)
from drivers.errors import DeviceError
from drivers.status import Status

log = logging.getLogger(__name__)

# How often the switch-off watch looks at the transmitters besides bus events.
RECHECK = 0.1
# A monitor stopped this recently watched the meeting this routine closes (the schedule stops
# monitoring at the end and starts the post-meeting routine right after, or post_meeting_after later).
RECENT_SESSION = timedelta(hours=2)


def canonical(content: dict[str, Any]) -> str:
    """The one byte sequence a signature covers: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_session_log(log_record: dict[str, Any]) -> bool:
    """The stored content still hashes to what was signed."""
    return sha256_of(log_record["content"]) == log_record["sha256"]


class PostMeetingRoutine:
    def __init__(self, controller, *, records, prompts, monitoring=None) -> None:
        self.controller = controller
        self.records = records
        self.prompts = prompts
        self.monitoring = monitoring
        self._tasks: dict[str, asyncio.Task] = {}

    @property
    def site(self):
        return self.controller.site

    # --- running -------------------------------------------------------------------------

    async def start(self, room_id: str, *, technician: str | None, actor: str,
                    booking: str | None = None) -> dict[str, Any]:
        """Record the routine and run it in the background; returns the record as first stored."""
        if room_id not in self.site.rooms:
            raise KeyError(room_id)
        record = {"id": uuid.uuid4().hex[:12], "room": room_id, "room_name": self.site.rooms[room_id].name,
                  "booking": booking, "technician": technician, "actor": actor,
                  "started_at": self.controller.clock.now().isoformat(), "finished_at": None, "state": "running",
                  "steps": {}}
        await self._save(record, "started")
        task = asyncio.create_task(self._run(record), name=f"post-meeting {room_id}")
        self._tasks[record["id"]] = task
        return json.loads(json.dumps(record))

    async def run(self, room_id: str, **options: Any) -> dict[str, Any]:
        record = await self.start(room_id, **options)
        return await self.wait(record["id"])

    async def wait(self, record_id: str, timeout: float | None = None) -> dict[str, Any]:
        task = self._tasks.get(record_id)
        if task is not None:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        return await self.records.post_meeting(record_id)

    async def stop(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def on_post_meeting(self, entry) -> None:
        """The schedule's post_meeting action: nobody is named, so the log waits for a technician to sign it."""
        await self.start(entry.room, technician=None, actor="scheduler", booking=entry.booking.id)

    async def _run(self, record: dict[str, Any]) -> None:
        room_id = record["room"]
        try:
            monitor = None
            if self.monitoring is not None:
                monitor = await self.monitoring.stop(room_id) or self.monitoring.last_session(
                    room_id, booking=record["booking"], within=RECENT_SESSION)
            record["session"] = {
                "from": monitor.started_at.isoformat() if monitor is not None else None,
                "to": self.controller.clock.now().isoformat(),
                "booking": record["booking"] or (monitor.booking if monitor is not None else None),
            }
            await self._step(record, "inventory", self._inventory(record, monitor))
            await self._step(record, "damage_checks", self._damage_checks(record))
            await self._step(record, "baseline", self._baseline(record))
            await self._step(record, "shutdown", self._shutdown(record))
            await self._step(record, "session_log", self._session_log(record))
            record["state"] = "done"
        except asyncio.CancelledError:
            record["state"] = "aborted"
            record["finished_at"] = self.controller.clock.now().isoformat()
            await asyncio.shield(self._save(record, "finished"))
            raise
        except Exception as exc:  # on record, never half-told
            log.exception("post-meeting %s failed", record["id"])
            record["state"], record["error"] = "failed", f"{type(exc).__name__}: {exc}"
        record["finished_at"] = self.controller.clock.now().isoformat()
        await self._save(record, "finished")

    async def _step(self, record: dict[str, Any], name: str, work) -> None:
        record["steps"][name] = {"started_at": self.controller.clock.now().isoformat(), "state": "running"}
        await self._save(record, name)
        result = await work
        record["steps"][name] = {**record["steps"][name], **result,
                                 "finished_at": self.controller.clock.now().isoformat()}
        await self._save(record, name)

    async def _save(self, record: dict[str, Any], event: str) -> None:
        await self.records.save_post_meeting(json.loads(json.dumps(record, default=str)))
        self.controller.bus.publish("post_meeting", room=record["room"], actor=record["actor"],
                                    data={"id": record["id"], "event": event, "state": record["state"]})

    # --- 1. inventory ----------------------------------------------------------------------

    def _mics(self, room_id: str) -> list[tuple[Any, int, bool]]:
        """(receiver, channel, spare) of every mic the room owns: its audio.mics, else every receiver channel."""
        room = self.site.rooms[room_id]
        listed = self.controller.config.room(room_id).audio.mics
        if listed:
            return [(room.devices[m.receiver], m.channel, m.spare) for m in listed]
        return [(runtime, channel, False) for runtime in room.devices.values()
                if isinstance(runtime.device, HasWirelessChannels) for channel in runtime.device.channel_numbers()]

    def _whereabouts(self, runtime, channel: int) -> str:
        if runtime.supervisor.status not in (Status.ONLINE, Status.FAULT):
            return "unknown"  # the receiver does not answer: nothing can be told
        scope = FaultScope(runtime, channel)
        off = KINDS["mic-transmitter-off"].detect(scope)
        if off is None:
            return "unknown"
        if off:
            return "off"
        return "out_of_range" if KINDS["rf-loss"].detect(scope) else "on"

    async def _inventory(self, record: dict[str, Any], monitor) -> dict[str, Any]:
        room_id = record["room"]
        settings = self.controller.config.room(room_id).post_meeting
        audio = self.controller.config.room(room_id).audio
        mics = self._mics(room_id)
        still_on = [(r, c) for r, c, _ in mics if self._whereabouts(r, c) == "on"]
        prompt_result = None
        if still_on:
            names = ", ".join(channel_label(r, c, audio) for r, c in still_on)
            prompt = self.prompts.open(room_id, {"en": f"Switch off: {names}", "zh": f"请关闭：{names}"},
                                       timeout=settings.switch_off_within, actor=record["actor"],
                                       context={"source": "post_meeting", "record": record["id"], "step": "switch_off"})
            watcher = asyncio.create_task(self._all_off(still_on, settings.switch_off_within))
            waiter = asyncio.create_task(self.prompts.wait(prompt, actor=record["actor"]))
            done, _ = await asyncio.wait({watcher, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if watcher in done and not waiter.done():
                self.prompts.answer(prompt.id, confirmed=True, by="roomctl", note="every transmitter reported off")
            reply = await waiter
            if not watcher.done():  # the technician answered first: give the receivers a moment to hear it
                await asyncio.wait({watcher}, timeout=1.0)
            watcher.cancel()
            prompt_result = {"prompt": prompt.id, "answer": reply.answer.value, "by": reply.by}
        items = []
        for runtime, channel, spare in mics:
            where = self._whereabouts(runtime, channel)
            was_on = (runtime, channel) in still_on
            status = {"on": "not_switched_off", "out_of_range": "missing", "unknown": "unknown",
                      "off": "switched_off" if was_on else "off"}[where]
            items.append({"device": runtime.id, "channel": channel, "mic": channel_label(runtime, channel, audio),
                          "spare": spare, "status": status,
                          "used": monitor is not None and (runtime.id, channel) in monitor.seen_transmitters})
        missing = [i["mic"] for i in items if i["status"] == "missing"]
        not_off = [i["mic"] for i in items if i["status"] == "not_switched_off"]
        unknown = [i["mic"] for i in items if i["status"] == "unknown"]
        return {"state": "complete" if not (missing or not_off or unknown) else "incomplete",
                "mics": items, "missing": missing, "not_switched_off": not_off, "unknown": unknown,
                "spares": [{"mic": i["mic"], "status": i["status"]} for i in items if i["spare"]],
                **({"switch_off": prompt_result} if prompt_result else {})}

    async def _all_off(self, mics: list[tuple[Any, int]], within: float) -> bool:
        deadline = time.monotonic() + within
        with self.controller.bus.subscribe(limit=1000) as changes:
            while True:
                if all(self._whereabouts(r, c) != "on" for r, c in mics):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:
                    async with asyncio.timeout(min(left, RECHECK)):
                        await changes.get()
                except TimeoutError:
                    pass

    # --- 2. damage checks --------------------------------------------------------------------

    async def _damage_checks(self, record: dict[str, Any]) -> dict[str, Any]:
        room_id = record["room"]
        timeout = self.controller.config.room(room_id).post_meeting.damage_check_timeout
        inventory = record["steps"]["inventory"]
        to_check = [item for item in inventory["mics"] if item["status"] != "missing"]

        async def check(item: dict[str, Any]) -> dict[str, Any]:
            mic = item["mic"]
            reply = await self.prompts.ask(
                room_id, {"en": f"Check {mic}: back, and undamaged (grille, capsule, antenna, battery door)?",
                          "zh": f"检查{mic}：已归还且无损坏（网罩、咪头、天线、电池盖）？"},
                timeout=timeout, actor=record["actor"],
                context={"source": "post_meeting", "record": record["id"], "step": "damage_check", "mic": mic,
                         "device": item["device"], "channel": item["channel"]})
            result = {Answer.CONFIRMED: "undamaged", Answer.DECLINED: "damaged_or_missing",
                      Answer.UNANSWERED: "not_confirmed"}[reply.answer]
            return {"mic": mic, "device": item["device"], "channel": item["channel"], "result": result,
                    "by": reply.by, "note": reply.note, "at": reply.at.isoformat() if reply.at else None}

        checks = list(await asyncio.gather(*(check(item) for item in to_check)))
        return {"state": "confirmed" if all(c["result"] == "undamaged" for c in checks) else "not_all_confirmed",
                "mics": checks,
                "not_confirmed": [c["mic"] for c in checks if c["result"] == "not_confirmed"],
                "damaged_or_missing": [c["mic"] for c in checks if c["result"] == "damaged_or_missing"]}

    # --- 3. baseline --------------------------------------------------------------------------

    async def _baseline(self, record: dict[str, Any]) -> dict[str, Any]:
        room_id = record["room"]
        room = self.controller.config.room(room_id)
        actions = []
        if room.audio.mixer is not None and room.audio.baseline_scene is not None:
            mixer, scene = room.audio.mixer, room.audio.baseline_scene
            action = {"what": f"recall snapshot {scene} on {mixer}"}
            try:
                await self.site.execute(room_id, mixer, RecallScene(scene=scene), actor="post-meeting")
                action["ok"] = True
            except DeviceError as exc:
                action.update(ok=False, error=f"{type(exc).__name__}: {exc}")
            actions.append(action)
        if room.post_meeting.baseline_scene is not None:
            actions.append(await self._scene(room_id, room.post_meeting.baseline_scene))
        if not actions:
            return {"state": "skipped", "actions": [],
                    "detail": "the room names no baseline (audio.baseline_scene, post_meeting.baseline_scene)"}
        return {"state": "done" if all(a["ok"] for a in actions) else "failed", "actions": actions}

    async def _scene(self, room_id: str, scene_id: str) -> dict[str, Any]:
        try:
            result = await self.controller.scenes.recall(room_id, scene_id, actor="post-meeting")
        except SceneNotFound:
            return {"what": f"scene {scene_id}", "ok": False, "error": f"no scene {scene_id!r}"}
        failed = [f"{s.device}: {s.error} {s.detail or ''}".strip() for s in result.steps if not s.ok]
        return {"what": f"scene {scene_id}", "ok": result.ok, **({"failed": failed} if failed else {})}

    # --- 4. shutdown ----------------------------------------------------------------------------

    async def _shutdown(self, record: dict[str, Any]) -> dict[str, Any]:
        room_id = record["room"]
        scene_id = self.controller.config.room(room_id).post_meeting.shutdown_scene
        if scene_id in self.controller.scenes.scenes(room_id):
            action = await self._scene(room_id, scene_id)
            return {"state": "done" if action["ok"] else "failed", "actions": [action]}
        # No shutdown scene: switch off what can be switched off, all together.
        async def off(runtime, command) -> dict[str, Any]:
            action = {"what": f"{runtime.id}: {command.type} off"}
            try:
                await self.site.execute(room_id, runtime.id, command, actor="post-meeting")
                action["ok"] = True
            except DeviceError as exc:
                action.update(ok=False, error=f"{type(exc).__name__}: {exc}")
            return action

        work = []
        for runtime in self.site.rooms[room_id].devices.values():
            if isinstance(runtime.device, HasPower):
                work.append(off(runtime, SetPower(on=False)))
            elif isinstance(runtime.device, HasHvacMode) and HvacMode.OFF in runtime.device.hvac_modes():
                work.append(off(runtime, SetHvacMode(mode=HvacMode.OFF)))
        actions = list(await asyncio.gather(*work))
        return {"state": "done" if all(a["ok"] for a in actions) else "failed",
                "detail": f"no scene {scene_id!r}: every device switched off", "actions": actions}

    # --- 5. the session log -----------------------------------------------------------------------

    async def _session_log(self, record: dict[str, Any]) -> dict[str, Any]:
        content = await self.session_content(record)
        technician = record["technician"]
        by_prompt = None
        if technician is None:  # started by the schedule: whoever answers signs
            timeout = self.controller.config.room(record["room"]).post_meeting.damage_check_timeout
            reply = await self.prompts.ask(record["room"], {"en": f"Sign the session log of {record['room_name']}",
                                                            "zh": f"签署{record['room_name']}的会议记录"},
                                           timeout=timeout, actor=record["actor"],
                                           context={"source": "post_meeting", "record": record["id"], "step": "sign"})
            if reply.answer is Answer.CONFIRMED and reply.by:
                technician, by_prompt = reply.by, True
        if technician is None:
            return {"state": "not_signed", "detail": "nobody signed within the timeout",
                    "sha256": sha256_of(canonical(content))}
        signed = await self.sign(record, content, technician)
        return {"state": "signed", "log": signed["id"], "signed_by": signed["signed_by"],
                "signed_at": signed["signed_at"], "sha256": signed["sha256"],
                **({"signed_at_prompt": True} if by_prompt else {})}

    async def session_content(self, record: dict[str, Any]) -> dict[str, Any]:
        room_id = record["room"]
        session = record.get("session") or {}
        since = session.get("from") or record["started_at"]
        until = record.get("finished_at") or self.controller.clock.now().isoformat()
        alerts = [a for a in await self.records.alerts(room=room_id, since=since, limit=1000) if a["at"] <= until]
        runs = [r for r in await self.records.runs(room=room_id, limit=200) if since <= r["started_at"] <= until]
        steps = {name: step for name, step in record["steps"].items() if name != "session_log"}
        return {
            "site": self.controller.config.site, "room": room_id, "room_name": record["room_name"],
            "post_meeting": record["id"], "session": session,
            "alerts": sorted(({"id": a["id"], "at": a["at"], "kind": a["kind"], "state": a["state"],
                               "severity": a["severity"], "message": a["message"]["en"]} for a in alerts),
                             key=lambda a: (a["at"], a["id"])),
            "playbook_runs": sorted(({"id": r["id"], "kind": r["kind"], "subject": r["subject"],
                                      "outcome": r["outcome"], "started_at": r["started_at"],
                                      "finished_at": r["finished_at"]} for r in runs),
                                    key=lambda r: (r["started_at"], r["id"])),
            "routine": json.loads(json.dumps(steps, default=str)),
        }

    async def sign(self, record: dict[str, Any], content: dict[str, Any], technician: str) -> dict[str, Any]:
        """Store the signed log: name, time, SHA-256 over the canonical content. Committed, then told."""
        text = canonical(content)
        signed = {"id": uuid.uuid4().hex[:12], "room": record["room"], "signed_by": technician,
                  "signed_at": self.controller.clock.now().isoformat(), "sha256": sha256_of(text), "content": text}
        await self.records.save_session_log(signed)
        self.controller.bus.publish("session_log", room=record["room"], actor=technician,
                                    data={"id": signed["id"], "post_meeting": record["id"], "sha256": signed["sha256"]})
        return signed

    async def sign_later(self, record_id: str, technician: str) -> dict[str, Any]:
        """Sign a finished routine's log that nobody signed in time."""
        record = await self.records.post_meeting(record_id)
        if record is None:
            raise KeyError(record_id)
        step = record["steps"].get("session_log", {})
        if step.get("state") == "signed":
            raise ValueError(f"the session log of {record_id} is already signed by {step['signed_by']}")
        if record["state"] == "running":
            raise ValueError(f"the post-meeting routine {record_id} is still running")
        content = await self.session_content(record)
        signed = await self.sign(record, content, technician)
        record["steps"]["session_log"] = {**step, "state": "signed", "log": signed["id"],
                                          "signed_by": technician, "signed_at": signed["signed_at"],
                                          "sha256": signed["sha256"]}
        await self._save(record, "signed")
        return record
