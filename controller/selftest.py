"""The pre-meeting self-test: every check that applies to each device of a room.

Devices are checked concurrently; a device's own checks run in order (power first, so
the lamp check sees a lit lamp). Each check has a timeout, so a dead device holds up
nothing but its own line. The report says, per failure, what is wrong, what roomctl
already tried and what the technician should do next; it is stored before anyone is
told the result.
"""

from __future__ import annotations

import asyncio
import html
import time
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from controller.checks import CHECKS, CheckContext, Outcome, Verdict, text

EXIT_READY, EXIT_NOT_READY, EXIT_CONFIG, EXIT_COULD_NOT_RUN = 0, 1, 2, 3
SEVERITY = [Verdict.PASS, Verdict.NOT_DONE, Verdict.WARN, Verdict.FAIL]


class CheckResult(BaseModel):
    device: str
    device_name: str
    subject: str | None = None  # "Mic 2 — Chair" when a check judges part of a device
    check: str
    title: dict[str, str]
    verdict: Verdict
    measured: str | None = None
    problem: dict[str, str] | None = None
    advice: dict[str, str] | None = None
    tried: list[dict[str, str]] = []
    playbook: str | None = None
    duration_ms: float


class SelfTestReport(BaseModel):
    id: str
    room: str
    room_name: str
    started_at: datetime
    duration_s: float
    ready: bool
    attended: bool
    meeting_minutes: float
    results: list[CheckResult]

    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for result in self.results:
            counts[result.verdict.value] += 1
        return counts

    @property
    def exit_code(self) -> int:
        return EXIT_READY if self.ready else EXIT_NOT_READY


Prompt = Any  # async (message: dict[str, str]) -> bool


class SelfTest:
    def __init__(self, controller) -> None:
        self.controller = controller

    def plan(self, room_id: str) -> list[tuple[str, str]]:
        """(device, check) pairs a run of this room will judge, in order."""
        settings = self.controller.site.config.room(room_id).selftest
        return [(runtime.id, check.id)
                for runtime in self.controller.site.rooms[room_id].devices.values()
                for check in CHECKS
                if check.id not in settings.skip
                and (check.capability is None or isinstance(runtime.device, check.capability))]

    async def last(self, room_id: str) -> dict | None:
        reports = await self.controller.store.selftests(room=room_id, limit=1)
        return reports[0] if reports else None

    async def run(self, room_id: str, *, meeting_minutes: float | None = None, attended: bool = False,
                  prompt: Prompt | None = None, actor: str = "selftest",
                  devices: set[str] | None = None) -> SelfTestReport:
        """Judge every device of the room (or only ``devices``), concurrently per device."""
        site, bus = self.controller.site, self.controller.bus
        placed = getattr(self.controller, "placed_simulators", None)
        if prompt is None and placed:
            # The demo venue: its simulated technician talks into simulated mics only.
            from controller.simulation import simulated_technician

            prompt, attended = simulated_technician(placed), True
        room = site.rooms[room_id]
        settings = site.config.room(room_id).selftest
        minutes = meeting_minutes if meeting_minutes is not None else settings.meeting_minutes
        started_at, began = self.controller.clock.now(), time.monotonic()
        report_id = uuid.uuid4().hex[:12]
        bus.publish("selftest", room=room_id, data={"id": report_id, "event": "started",
                                                    "planned": len(self.plan(room_id))}, actor=actor)

        async def nobody_answers(request) -> bool:
            return False

        async def check_device(runtime) -> list[CheckResult]:
            ctx = CheckContext(
                room=room_id, device_id=runtime.id, runtime=runtime, thresholds=settings.thresholds,
                meeting_minutes=minutes, attended=attended, prompt=prompt or nobody_answers,
                execute=lambda command: site.execute(room_id, runtime.id, command, actor=actor),
                room_config=site.config.room(room_id), site=site,
            )
            results = []
            for check in CHECKS:
                if check.id in settings.skip:
                    continue
                if check.capability is not None and not isinstance(runtime.device, check.capability):
                    continue
                judged = await self._run_check(check, ctx)
                results.extend(judged)
                worst = max((r.verdict for r in judged), key=SEVERITY.index, default=Verdict.PASS)
                bus.publish("selftest", room=room_id, device=runtime.id, actor=actor,
                            data={"id": report_id, "event": "check", "check": check.id, "verdict": worst.value})
            return results

        chosen = [r for r in room.devices.values() if devices is None or r.id in devices]
        per_device = await asyncio.gather(*(check_device(runtime) for runtime in chosen))
        results = [result for device_results in per_device for result in device_results]
        report = SelfTestReport(
            id=report_id, room=room_id, room_name=room.name, started_at=started_at,
            duration_s=round(time.monotonic() - began, 3),
            ready=all(r.verdict is not Verdict.FAIL for r in results), attended=attended,
            meeting_minutes=minutes, results=results,
        )
        await self.controller.store.save_selftest(report.model_dump(mode="json"))
        bus.publish("selftest", room=room_id, actor=actor,
                    data={"id": report_id, "event": "finished", "ready": report.ready, "counts": report.counts()})
        return report

    async def _run_check(self, check, ctx: CheckContext) -> list[CheckResult]:
        began = time.monotonic()
        try:
            async with asyncio.timeout(ctx.thresholds.check_timeout):
                outcome = await check.run(ctx)
        except TimeoutError:
            outcome = Outcome(Verdict.FAIL, problem=text(f"the check took longer than {ctx.thresholds.check_timeout:g} s",
                                                         f"检查超时（{ctx.thresholds.check_timeout:g} 秒）"),
                              advice=text("Check the device by hand.", "请人工检查该设备。"), playbook="device-offline")
        except Exception as exc:  # a broken check must show as such, not stop the others
            outcome = Outcome(Verdict.FAIL, problem=text(f"the check failed to run: {exc!r}", f"检查无法执行：{exc!r}"),
                              advice=text("Check the device by hand.", "请人工检查该设备。"))
        duration_ms = round((time.monotonic() - began) * 1000, 1)
        outcomes = outcome if isinstance(outcome, list) else [outcome]
        if not outcomes:  # nothing of that kind on this device (no mics configured on it)
            return []
        return [CheckResult(
            device=ctx.device_id, device_name=ctx.label, subject=o.subject, check=check.id, title=check.title,
            verdict=o.verdict, measured=o.measured, problem=o.problem, advice=o.advice,
            tried=o.tried, playbook=o.playbook, duration_ms=duration_ms,
        ) for o in outcomes]


# --- reports ---------------------------------------------------------------------------

LABELS = {
    "en": {"ready": "READY", "not_ready": "NOT READY", "device": "device", "check": "check", "result": "result",
           "measured": "measured", "problem": "problem", "tried": "tried", "next": "what to do", "room": "Room",
           "started": "started", "took": "took", "pass": "pass", "warn": "warn", "fail": "FAIL",
           "not_done": "not done", "title": "Pre-meeting self-test", "playbook": "playbook"},
    "zh": {"ready": "就绪", "not_ready": "未就绪", "device": "设备", "check": "检查项", "result": "结果",
           "measured": "实测", "problem": "问题", "tried": "已尝试", "next": "处理建议", "room": "会议室",
           "started": "开始", "took": "用时", "pass": "通过", "warn": "注意", "fail": "失败",
           "not_done": "未执行", "title": "会前自检", "playbook": "预案"},
}


def render_text(report: SelfTestReport, lang: str = "en") -> str:
    words = LABELS[lang]
    verdict = words["ready"] if report.ready else words["not_ready"]
    lines = [f"{words['title']} — {words['room']} {report.room_name}: {verdict} "
             f"({words['took']} {report.duration_s:.1f} s)"]
    rows = [(_who(r), r.title[lang], words[r.verdict.value], r.measured or "") for r in report.results]
    widths = [max([len(h)] + [_width(row[i]) for row in rows]) for i, h in
              enumerate((words["device"], words["check"], words["result"], words["measured"]))]
    header = (words["device"], words["check"], words["result"], words["measured"])
    lines.append("  ".join(_pad(h, w) for h, w in zip(header, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(_pad(c, w) for c, w in zip(row, widths)).rstrip() for row in rows]
    for result in report.results:
        if result.verdict in (Verdict.FAIL, Verdict.WARN) and result.problem:
            lines.append("")
            lines.append(f"{words[result.verdict.value]}: {_who(result)} — {result.title[lang]}: {result.problem[lang]}")
            for tried in result.tried:
                lines.append(f"  {words['tried']}: {tried[lang]}")
            if result.advice:
                lines.append(f"  {words['next']}: {result.advice[lang]}")
            if result.playbook:
                lines.append(f"  {words['playbook']}: {result.playbook}")
    return "\n".join(lines)


def render_html(report: SelfTestReport, lang: str = "en") -> str:
    """A self-contained page: no scripts, no external files; prints well."""
    words = LABELS[lang]
    e = html.escape
    rows = []
    for r in report.results:
        detail = ""
        if r.problem:
            detail += f"<div>{e(r.problem[lang])}</div>"
        for tried in r.tried:
            detail += f"<div class=tried>{e(words['tried'])}: {e(tried[lang])}</div>"
        if r.advice and r.verdict in (Verdict.FAIL, Verdict.WARN):
            detail += f"<div class=advice>{e(words['next'])}: {e(r.advice[lang])}</div>"
        rows.append(f"<tr class={r.verdict.value}><td>{e(_who(r))}</td><td>{e(r.title[lang])}</td>"
                    f"<td class=verdict>{e(words[r.verdict.value])}</td><td>{e(r.measured or '')}</td><td>{detail}</td></tr>")
    verdict = words["ready"] if report.ready else words["not_ready"]
    return f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<title>{e(words['title'])} — {e(report.room_name)}</title>
<style>
body{{font:15px/1.4 system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;color:#222}}
h1{{font-size:1.4em}} .banner{{padding:.6em 1em;border-radius:6px;font-weight:bold;color:#fff;display:inline-block}}
.banner.ready{{background:#1a7f37}} .banner.not_ready{{background:#c62828}}
table{{border-collapse:collapse;margin-top:1em;width:100%}} td,th{{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}}
tr.fail td.verdict{{color:#c62828;font-weight:bold}} tr.warn td.verdict{{color:#b26a00;font-weight:bold}}
tr.pass td.verdict{{color:#1a7f37}} tr.not_done td.verdict{{color:#666}} .advice{{color:#0b4f9c}} .tried{{color:#555}}
</style></head><body>
<h1>{e(words['title'])} — {e(words['room'])} {e(report.room_name)}</h1>
<div class="banner {'ready' if report.ready else 'not_ready'}">{e(verdict)}</div>
<p>{e(words['started'])}: {e(report.started_at.isoformat(timespec='seconds'))} · {e(words['took'])}: {report.duration_s:.1f} s</p>
<table><tr><th>{e(words['device'])}</th><th>{e(words['check'])}</th><th>{e(words['result'])}</th><th>{e(words['measured'])}</th><th>{e(words['problem'])}</th></tr>
{''.join(rows)}
</table></body></html>
"""


def _who(result: CheckResult) -> str:
    return f"{result.device_name} · {result.subject}" if result.subject else result.device_name


def _width(value: str) -> int:
    """Display width: CJK characters take two terminal columns."""
    return sum(2 if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" else 1 for ch in value)


def _pad(value: str, width: int) -> str:
    return value + " " * max(0, width - _width(value))
