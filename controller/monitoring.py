"""During the meeting: the technician's patrol, one Monitor per room.

A monitor looks at its room's devices whenever one of them changes (and at least every
``TICK``), and raises an alert — store, bus (kind ``alert``), MQTT — when:

- a mixer or receiver channel clips for ``clip_sustain`` seconds: it is also taken down
  in ``clip_step_db`` steps, never below the room's floor; still clipping at the floor
  is an alert of its own;
- a mic's battery will not last the rest of the meeting plus a margin (the mic's name
  and its minutes left are in the message);
- a mic's RF is lost, or the receiver detects interference;
- a device goes offline, or a projector reports a lamp, temperature or cover error;
- the room's temperature stays out of its band.

Each alert carries its fault kind, which is its playbook's id. Monitors are started and
stopped by the schedule (``monitor_start`` / ``monitor_stop``) and by the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from controller.alerts import Alert, new_alert_id
from controller.fault_kinds import KINDS, FaultScope, channel_label
from controller.level_limit import next_reduction
from drivers.capabilities import HasAudioLevels, HasBattery, HasErrorStatus, HasRf, HasTemperature
from drivers.errors import DeviceError
from drivers.status import Status

log = logging.getLogger(__name__)

# Real seconds between looks when nothing changes: the battery estimate and the meeting's
# remaining time move with the clock, not with events.
TICK = 0.25
# Error states a projector or display reports, alerted as soon as they are reported.
DEVICE_FAULTS = ("projector-lamp", "projector-over-temperature", "projector-cover")


@dataclass
class _Watch:
    """One condition on one device (and channel): since when it holds, and its alert."""

    since: float
    alert: Alert | None = None
    last_step: float | None = None  # clipping: when the level was last lowered
    at_floor: bool = False
    moves: int = 0


class Monitor:
    def __init__(self, service: "MonitoringService", room_id: str, *, until: datetime, booking: str | None,
                 actor: str) -> None:
        self.service = service
        self.controller = service.controller
        self.room_id = room_id
        self.until = until
        self.booking = booking
        self.actor = actor
        self.started_at = self.controller.clock.now()
        self.settings = self.controller.config.room(room_id).monitoring
        self.audio = self.controller.config.room(room_id).audio
        self._watches: dict[tuple, _Watch] = {}
        self.raised: list[str] = []  # alert ids, in order
        self.seen_transmitters: set[tuple[str, int]] = set()  # (device, channel) heard during the meeting
        self.stopped_at: datetime | None = None
        self._task: asyncio.Task | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"monitor {self.room_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def remaining_minutes(self) -> float:
        return max(0.0, (self.until - self.controller.clock.now()).total_seconds() / 60)

    def view(self) -> dict[str, Any]:
        return {"room": self.room_id, "running": self.running, "started_at": self.started_at.isoformat(),
                "until": self.until.isoformat(), "booking": self.booking,
                "remaining_minutes": round(self.remaining_minutes(), 1),
                "active_alerts": [w.alert.model_dump(mode="json") for w in self._watches.values() if w.alert],
                "alerts_raised": len(self.raised)}

    async def _run(self) -> None:
        bus = self.controller.bus
        bus.publish("monitoring", room=self.room_id, actor=self.actor,
                    data={"event": "started", "until": self.until.isoformat(), "booking": self.booking})
        try:
            with bus.subscribe(limit=10_000) as events:
                while True:
                    try:
                        await self.look()
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # one bad look must not end the patrol
                        log.exception("monitor %s: a look failed", self.room_id)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(TICK):
                            while (await events.get()).room != self.room_id:
                                pass
                    while not events.queue.empty():
                        events.queue.get_nowait()
        finally:
            bus.publish("monitoring", room=self.room_id, actor=self.actor, data={"event": "stopped"})

    # --- looking ---------------------------------------------------------------------------

    async def look(self) -> None:
        """One patrol of the room: every condition on every device."""
        now = self.controller.clock.monotonic()
        room = self.controller.site.rooms[self.room_id]
        need = self.remaining_minutes() + self.settings.battery_margin_minutes
        band = tuple(self.settings.temperature_band)
        for runtime in room.devices.values():
            device = runtime.device
            offline = runtime.supervisor.status in (Status.OFFLINE, Status.BAD_CONFIG)
            await self._condition(("device-offline", runtime.id, None), offline, now, self.settings.offline_grace,
                                  runtime, None, self._offline_message)
            if offline:
                continue
            if isinstance(device, HasErrorStatus):
                for kind in DEVICE_FAULTS:
                    present = KINDS[kind].detect(FaultScope(runtime))
                    await self._condition((kind, runtime.id, None), bool(present), now, 0.0, runtime, None,
                                          self._device_fault_message)
            if isinstance(device, HasTemperature):
                present = KINDS["climate-not-reaching-target"].detect(FaultScope(runtime, band=band))
                await self._condition(("climate-not-reaching-target", runtime.id, None), bool(present), now,
                                      self.settings.temperature_sustain, runtime, None, self._temperature_message)
            for channel in getattr(device, "channel_numbers", lambda: ())():
                scope = FaultScope(runtime, channel, need_minutes=need, band=band)
                if KINDS["mic-transmitter-off"].detect(scope) is False:
                    self.seen_transmitters.add((runtime.id, channel))
                if isinstance(device, HasBattery):
                    await self._condition(("mic-battery-low", runtime.id, channel),
                                          bool(KINDS["mic-battery-low"].detect(scope)), now, 0.0, runtime, channel,
                                          self._battery_message)
                if isinstance(device, HasRf):
                    for kind in ("rf-loss", "interference"):
                        await self._condition((kind, runtime.id, channel), bool(KINDS[kind].detect(scope)), now,
                                              self.settings.rf_sustain, runtime, channel, self._rf_message)
                if isinstance(device, HasAudioLevels):
                    await self._clipping(runtime, channel, bool(KINDS["clipping"].detect(scope)), now)

    async def _condition(self, key: tuple, present: bool, now: float, sustain: float, runtime, channel,
                         message) -> None:
        watch = self._watches.get(key)
        if not present:
            if watch is not None:
                del self._watches[key]
                if watch.alert is not None:
                    await self._clear(watch.alert)
            return
        if watch is None:
            watch = self._watches[key] = _Watch(since=now)
        if watch.alert is None and now - watch.since >= sustain:
            kind = key[0]
            en, zh, data = message(kind, runtime, channel)
            watch.alert = await self._raise(kind, runtime, channel, en, zh, data)

    async def _clipping(self, runtime, channel: int, clipping: bool, now: float) -> None:
        key = ("clipping", runtime.id, channel)
        watch = self._watches.get(key)
        if not clipping:
            if watch is not None:
                del self._watches[key]
                if watch.alert is not None:
                    await self._clear(watch.alert)
            return
        if watch is None:
            watch = self._watches[key] = _Watch(since=now)
        s = self.settings
        if now - watch.since < s.clip_sustain or watch.at_floor:
            return
        if watch.last_step is not None and now - watch.last_step < s.clip_step_interval:
            return
        label = channel_label(runtime, channel, self.audio)
        reduction = next_reduction(runtime.device, channel, step_db=s.clip_step_db, fader_floor_db=s.fader_floor_db,
                                   gain_floor_db=s.gain_floor_db)
        if reduction is None:
            watch.at_floor = True
            await self._raise("clipping", runtime, channel,
                              f"{label} is still clipping at its floor: ask the speaker to step back, check the gain",
                              f"{label} 已降至下限仍削波：请发言人远离话筒并检查增益", {"at_floor": True},
                              severity="critical")
            return
        try:
            await self.controller.site.execute(self.room_id, runtime.id, reduction.command, actor="monitoring")
        except DeviceError as exc:
            log.warning("monitor %s: could not lower %s: %s", self.room_id, label, exc)
            watch.last_step = now
            return
        watch.last_step = now
        watch.moves += 1
        data = {"what": reduction.what, "from_db": reduction.before_db, "to_db": reduction.after_db,
                "floor_db": reduction.floor_db}
        self.controller.bus.publish("level_limited", room=self.room_id, device=runtime.id, actor="monitoring",
                                    data={"channel": channel, **data})
        if watch.alert is None:
            watch.alert = await self._raise(
                "clipping", runtime, channel,
                f"{label} is clipping: {reduction.what} lowered from {reduction.before_db:g} to "
                f"{reduction.after_db:g} dB (floor {reduction.floor_db:g} dB)",
                f"{label} 削波：{'推子' if reduction.what == 'fader' else '增益'}由 {reduction.before_db:g} 降至 "
                f"{reduction.after_db:g} dB（下限 {reduction.floor_db:g} dB）", data)

    # --- messages ------------------------------------------------------------------------------

    def _offline_message(self, kind, runtime, channel):
        name = runtime.config.name or runtime.id
        reason = runtime.supervisor.reason or runtime.supervisor.status.value
        return f"{name} is offline ({reason})", f"{name} 离线（{reason}）", {"reason": reason}

    def _device_fault_message(self, kind, runtime, channel):
        name = runtime.config.name or runtime.id
        title = KINDS[kind].title
        return f"{name}: {title['en'].lower()}", f"{name}：{title['zh']}", {}

    def _temperature_message(self, kind, runtime, channel):
        temperature = runtime.device.state.get("temperature")
        low, high = self.settings.temperature_band
        return (f"Room temperature {temperature:.1f} °C is outside {low:g}–{high:g} °C",
                f"室温 {temperature:.1f} °C 超出 {low:g}–{high:g} °C", {"temperature": temperature, "band": [low, high]})

    def _battery_message(self, kind, runtime, channel):
        battery = runtime.device.state["batteries"][channel]
        label = channel_label(runtime, channel, self.audio)
        remaining = round(self.remaining_minutes())
        minutes = battery.minutes_left if isinstance(battery.minutes_left, int) else 0
        return (f"{label}: battery will not last the meeting — {minutes} min left, {remaining} min to go",
                f"{label}：电池撑不到会议结束——剩余 {minutes} 分钟，会议还有 {remaining} 分钟",
                {"mic": label, "minutes_left": minutes, "meeting_minutes_left": remaining,
                 "margin_minutes": self.settings.battery_margin_minutes})

    def _rf_message(self, kind, runtime, channel):
        label = channel_label(runtime, channel, self.audio)
        if kind == "interference":
            return f"{label}: RF interference", f"{label}：无线干扰", {"mic": label}
        return f"{label}: RF lost (out of range, or an antenna is off)", f"{label}：无线信号丢失", {"mic": label}

    # --- alerts --------------------------------------------------------------------------------

    async def _raise(self, kind: str, runtime, channel, en: str, zh: str, data: dict, *,
                     severity: str | None = None) -> Alert:
        publisher = self.service.alerts
        alert = Alert(id=new_alert_id(), room=self.room_id, kind=kind,
                      severity=severity or KINDS[kind].severity, message={"en": en, "zh": zh},
                      at=self.controller.clock.now(), device=runtime.id, channel=channel, source="monitoring",
                      playbook=kind, playbook_url=publisher.playbook_url(self.room_id, kind),
                      data={**data, "booking": self.booking})
        await publisher.raise_alert(alert)
        self.raised.append(alert.id)
        if self.settings.auto_playbooks and self.service.playbooks is not None:
            need = self.remaining_minutes() + self.settings.battery_margin_minutes
            try:
                await self.service.playbooks.start(self.room_id, kind, device=runtime.id, channel=channel,
                                                   actor="monitoring", trigger=alert.id, need_minutes=need)
            except Exception as exc:  # the alert stands; the playbook can be run by hand
                log.warning("monitor %s: playbook %s did not start: %s", self.room_id, kind, exc)
        return alert

    async def _clear(self, alert: Alert) -> None:
        cleared = alert.model_copy(update={"id": new_alert_id(), "state": "cleared", "at": self.controller.clock.now(),
                                           "severity": "info", "data": {**alert.data, "clears": alert.id}})
        await self.service.alerts.raise_alert(cleared)


class MonitoringService:
    """The rooms' monitors: started and stopped by the schedule and by the API."""

    def __init__(self, controller, *, alerts, playbooks=None) -> None:
        self.controller = controller
        self.alerts = alerts
        self.playbooks = playbooks
        self.monitors: dict[str, Monitor] = {}
        self.finished: dict[str, Monitor] = {}  # the last stopped monitor of each room (for the post-meeting log)

    def get(self, room_id: str) -> Monitor | None:
        monitor = self.monitors.get(room_id)
        return monitor if monitor is not None and monitor.running else None

    async def start(self, room_id: str, *, until: datetime | None = None, minutes: float | None = None,
                    booking: str | None = None, actor: str) -> Monitor:
        """Start (or restart with a new end) the room's monitor."""
        if room_id not in self.controller.site.rooms:
            raise KeyError(room_id)
        if until is None:
            settings = self.controller.config.room(room_id).monitoring
            until = self.controller.clock.now() + timedelta(minutes=minutes or settings.meeting_minutes)
        previous = self.monitors.get(room_id)
        if previous is not None:
            await previous.stop()
        monitor = Monitor(self, room_id, until=until, booking=booking, actor=actor)
        if previous is not None:  # the meeting goes on: what was heard so far still counts
            monitor.seen_transmitters |= previous.seen_transmitters
            monitor.started_at = previous.started_at
        self.monitors[room_id] = monitor
        monitor.start()
        return monitor

    async def stop(self, room_id: str) -> Monitor | None:
        monitor = self.monitors.pop(room_id, None)
        if monitor is not None:
            await monitor.stop()
            monitor.stopped_at = self.controller.clock.now()
            self.finished[room_id] = monitor
        return monitor

    async def stop_all(self) -> None:
        for room_id in list(self.monitors):
            await self.stop(room_id)

    def last_session(self, room_id: str, *, booking: str | None, within: timedelta) -> Monitor | None:
        """The monitor that stopped last in the room, if it stopped ``within`` ago (and was for ``booking``)."""
        monitor = self.finished.get(room_id)
        if monitor is None or monitor.stopped_at is None:
            return None
        if booking is not None and monitor.booking not in (None, booking):
            return None
        return monitor if self.controller.clock.now() - monitor.stopped_at <= within else None

    def battery_need_minutes(self, room_id: str) -> float | None:
        monitor = self.get(room_id)
        if monitor is None:
            return None
        return monitor.remaining_minutes() + monitor.settings.battery_margin_minutes

    # --- the schedule's actions --------------------------------------------------------------

    async def on_monitor_start(self, entry) -> None:
        await self.start(entry.room, until=entry.booking.end, booking=entry.booking.id, actor="scheduler")

    async def on_monitor_stop(self, entry) -> None:
        await self.stop(entry.room)
