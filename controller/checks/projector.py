"""Projector and display checks: error status, lamp and filter hours against rated life."""

from __future__ import annotations

from controller.checks.base import CheckContext, Outcome, Verdict, check, text
from drivers.capabilities import HasErrorStatus, HasFilter, HasInputs, HasLamps, Level, Power

COMPONENT_NAMES = {
    "fan": ("fan", "风扇"), "lamp": ("lamp", "灯泡"), "temperature": ("temperature", "温度"),
    "cover": ("lamp cover", "灯罩"), "filter": ("filter", "滤网"), "other": ("other", "其他"),
}
ADVICE = {
    "lamp": text("Replace the lamp or use the spare projector.", "更换灯泡或启用备用投影机。"),
    "temperature": text("Check the vents are clear; let it cool; check the room's air-conditioning.",
                        "检查通风口是否堵塞，待其冷却，并检查空调。"),
    "cover": text("Close and latch the lamp cover.", "关好并扣紧灯罩。"),
    "filter": text("Clean or replace the air filter.", "清洁或更换滤网。"),
    "fan": text("The fan has failed: do not run the projector; use the spare.", "风扇故障：停止使用，启用备用投影机。"),
    "other": text("Read the error on the device's panel; call the vendor if it persists.", "查看设备面板报错，必要时联系厂家。"),
}
PLAYBOOKS = {"lamp": "projector-lamp", "temperature": "projector-over-temperature", "cover": "projector-cover"}


@check("device_errors", capability=HasErrorStatus, order=20, title=text("No device errors", "设备无报警"))
async def device_errors(ctx: CheckContext) -> Outcome:
    errors = ctx.device.state.get("errors")
    if errors is None:
        return Outcome(Verdict.NOT_DONE, problem=text("no error status read yet", "尚未读取报警状态"))
    problems = errors.problems()
    if not problems:
        return Outcome(Verdict.PASS, measured="ok")
    worst = errors.worst()
    component = next(name for name, level in problems.items() if level is worst)
    en, zh = COMPONENT_NAMES[component]
    measured = ", ".join(f"{name} {level.value}" for name, level in problems.items())
    if worst is Level.WARNING:
        return Outcome(Verdict.WARN, measured=measured, problem=text(f"{en} warning", f"{zh}预警"),
                       advice=ADVICE[component])
    return Outcome(Verdict.FAIL, measured=measured, problem=text(f"{en} error", f"{zh}故障"),
                   advice=ADVICE[component], playbook=PLAYBOOKS.get(component, "device-offline"))


@check("lamp_hours", capability=HasLamps, order=30, title=text("Lamp life", "灯泡寿命"))
async def lamp_hours(ctx: CheckContext) -> Outcome:
    lamps = ctx.device.state.get("lamps")
    if not lamps:
        return Outcome(Verdict.NOT_DONE, problem=text("lamp hours not read", "未读取灯泡时数"))
    rated = ctx.thresholds.lamp_rated_hours
    hours = max(lamp.hours for lamp in lamps)
    measured = f"{hours} h / {rated} h"
    if hours >= rated:
        return Outcome(Verdict.FAIL, measured=measured,
                       problem=text(f"lamp past its rated life ({hours} h)", f"灯泡已超过额定寿命（{hours} 小时）"),
                       advice=ADVICE["lamp"], playbook="projector-lamp")
    if hours >= rated * ctx.thresholds.wear_warning_share:
        return Outcome(Verdict.WARN, measured=measured,
                       problem=text(f"lamp near the end of its life ({hours} h)", f"灯泡接近寿命（{hours} 小时）"),
                       advice=text("Order a replacement lamp; keep the spare projector ready.", "订购备用灯泡，备好备用投影机。"))
    return Outcome(Verdict.PASS, measured=measured)


@check("filter_hours", capability=HasFilter, order=30, title=text("Filter", "滤网"))
async def filter_hours(ctx: CheckContext) -> Outcome:
    hours = ctx.device.state.get("filter_hours")
    if hours is None:
        return Outcome(Verdict.NOT_DONE, problem=text("filter hours not read", "未读取滤网时数"))
    rated = ctx.thresholds.filter_rated_hours
    measured = f"{hours} h / {rated} h"
    if hours >= rated:
        return Outcome(Verdict.WARN, measured=measured, problem=text("filter due for cleaning", "滤网需清洁"),
                       advice=ADVICE["filter"])
    return Outcome(Verdict.PASS, measured=measured)


@check("input_signal", capability=HasInputs, order=35, title=text("Input has a signal", "输入有信号"))
async def input_signal(ctx: CheckContext) -> list[Outcome]:
    """Judged only where the device can tell (PJLink class 2); after power on, so the lamp is lit."""
    if "input_signal" not in ctx.device.state:
        return []
    if ctx.device.state.get("power") is not Power.ON:
        return [Outcome(Verdict.NOT_DONE, problem=text("not powered on", "未开机"))]
    from controller.checks.device import wait_for

    # The first poll after warm-up reads the signal; give it one poll interval.
    await wait_for(lambda: ctx.device.state.get("input_signal") is not None,
                   within=ctx.runtime.config.poll_interval + ctx.device.timeout)
    source = ctx.device.state.get("input")
    if ctx.device.state.get("input_signal"):
        return [Outcome(Verdict.PASS, measured=f"{source}: {ctx.device.state.get('input_resolution')}")]
    return [Outcome(Verdict.FAIL, measured=f"{source}: no signal",
                    problem=text(f"no signal on input {source}", f"输入 {source} 无信号"),
                    advice=text("Check the source is on and its cable is in; select the input the source is on.",
                                "确认信号源已开启、线缆已插好，并选择正确的输入。"),
                    playbook="no-input-signal")]
