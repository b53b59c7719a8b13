"""Lights and climate: lights answer a change they confirm; the air-conditioning can
bring the room into its band before the meeting."""

from __future__ import annotations

from controller.checks.base import CheckContext, Outcome, Verdict, check, text
from controller.checks.device import wait_for
from drivers.capabilities.climate import HasSetpoint, HasTemperature, SetSetpoint
from drivers.capabilities.lighting import HasBrightness, SetBrightness
from drivers.errors import DeviceError, DeviceTimeout
from drivers.status import Status

# The level the lights check sets: visibly different from full and from off.
LIGHTS_TEST_PERCENT = 60


def _reachable(ctx: CheckContext) -> bool:
    return ctx.runtime.supervisor.status in (Status.ONLINE, Status.FAULT)


@check("lights_respond", capability=HasBrightness, order=40, title=text("Lights respond", "灯光响应"))
async def lights_respond(ctx: CheckContext) -> Outcome:
    if not _reachable(ctx):
        return Outcome(Verdict.NOT_DONE, problem=text("device not reachable", "设备不在线"))
    before = ctx.device.state.get("brightness")
    target = LIGHTS_TEST_PERCENT if before != LIGHTS_TEST_PERCENT else LIGHTS_TEST_PERCENT + 10
    tried = [text(f"set brightness to {target}%", f"亮度设为 {target}%")]
    try:
        await ctx.execute(SetBrightness(percent=target))
    except DeviceTimeout:
        return _unconfirmed(ctx, tried)
    except DeviceError as exc:
        return Outcome(Verdict.FAIL, problem=text(f"refused a brightness change: {exc}", f"调光指令失败：{exc}"),
                       advice=text("Check the light's power and its Zigbee/relay link.", "检查灯具电源及其无线/继电器连接。"),
                       playbook="device-offline")
    confirmed = await wait_for(lambda: ctx.device.state.get("brightness") == target, within=ctx.thresholds.reconnect_wait)
    if before is not None and before != target:
        try:
            await ctx.execute(SetBrightness(percent=before))  # leave the room as the technician had it
        except DeviceError:
            pass
    if confirmed:
        return Outcome(Verdict.PASS, measured=f"{target}% confirmed", tried=tried)
    return _unconfirmed(ctx, tried)


def _unconfirmed(ctx: CheckContext, tried) -> Outcome:
    return Outcome(Verdict.FAIL, measured=f"reports {ctx.device.state.get('brightness')}%",
                   problem=text("the light did not confirm the change", "灯光未确认亮度变化"),
                   advice=text("Check the dimmer or relay by hand; switch to the room's manual light panel.",
                               "人工检查调光器或继电器；改用会议室手动灯光面板。"),
                   tried=tried, playbook="device-offline")


@check("climate_in_band", capability=HasTemperature, order=40,
       title=text("Room temperature reachable", "室温可达标"))
async def climate_in_band(ctx: CheckContext) -> Outcome:
    """In band now, or able to get there before the meeting at the unit's rated pull."""
    if not _reachable(ctx):
        return Outcome(Verdict.NOT_DONE, problem=text("device not reachable", "设备不在线"))
    temperature = ctx.device.state.get("temperature")
    if temperature is None:
        return Outcome(Verdict.NOT_DONE, problem=text("no temperature reported yet", "尚未报告温度"))
    low, high = ctx.thresholds.comfort_band
    measured = f"{temperature:.1f} °C (band {low:g}–{high:g})"
    if low <= temperature <= high:
        return Outcome(Verdict.PASS, measured=measured)
    tried = []
    if isinstance(ctx.device, HasSetpoint):
        target = round(min(max((low + high) / 2, low), high) * 2) / 2
        try:
            await ctx.execute(SetSetpoint(celsius=target))
            tried.append(text(f"set the setpoint to {target:g} °C", f"设定温度 {target:g} °C"))
        except DeviceError as exc:
            tried.append(text(f"setpoint refused: {exc}", f"设定温度失败：{exc}"))
    gap = low - temperature if temperature < low else temperature - high
    minutes_needed = gap / ctx.thresholds.climate_rate_c_per_minute
    if minutes_needed <= ctx.thresholds.climate_lead_minutes:
        return Outcome(Verdict.PASS, measured=f"{measured}, ~{minutes_needed:.0f} min to band", tried=tried)
    return Outcome(Verdict.FAIL, measured=measured,
                   problem=text(f"needs about {minutes_needed:.0f} min to reach the band; "
                                f"{ctx.thresholds.climate_lead_minutes:g} min are left before T-30",
                                f"约需 {minutes_needed:.0f} 分钟才能达标，距 T-30 仅剩 {ctx.thresholds.climate_lead_minutes:g} 分钟"),
                   advice=text("Start the air-conditioning at full power now; open the doors to the corridor "
                               "or prepare the alternate room.",
                               "立即以最大功率开启空调；必要时开门通风或准备备用会议室。"),
                   tried=tried, playbook="climate-not-reaching-target")
