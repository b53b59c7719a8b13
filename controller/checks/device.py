"""Checks every device gets: it answers, and it powers on when it has power."""

from __future__ import annotations

import asyncio
import time

from controller.checks.base import CheckContext, Outcome, Verdict, check, text
from drivers.capabilities import HasHealth, HasPower, Power, SetPower
from drivers.errors import DeviceError
from drivers.status import Status

# How often a check looks at a device's state while it waits for a change.
STATE_RECHECK = 0.1


async def wait_for(predicate, *, within: float) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(STATE_RECHECK)
    return True


@check("reachable", capability=None, order=0, title=text("Device answers", "设备在线"))
async def reachable(ctx: CheckContext) -> Outcome:
    supervisor = ctx.runtime.supervisor
    if supervisor.status in (Status.ONLINE, Status.FAULT):
        return Outcome(Verdict.PASS, measured=supervisor.status.value)
    tried = []
    if supervisor.status in (Status.OFFLINE, Status.CONNECTING):
        # The supervisor reconnects on its own with backoff; give it one more round.
        tried.append(text("waited for the controller to reconnect", "等待控制器重新连接"))
        supervisor.refresh_soon()
        if await wait_for(lambda: supervisor.status in (Status.ONLINE, Status.FAULT),
                          within=ctx.thresholds.reconnect_wait):
            return Outcome(Verdict.PASS, measured=supervisor.status.value, tried=tried)
    if supervisor.status is Status.BAD_CONFIG:
        return Outcome(Verdict.FAIL, measured=supervisor.status.value,
                       problem=text(f"{ctx.label} refuses our settings: {supervisor.reason}",
                                    f"{ctx.label} 拒绝当前配置：{supervisor.reason}"),
                       advice=text("Check the device's password and address in the room's config.",
                                   "检查配置中该设备的密码和地址。"),
                       tried=tried, playbook="device-offline")
    return Outcome(Verdict.FAIL, measured=supervisor.status.value,
                   problem=text(f"{ctx.label} does not answer ({supervisor.reason})",
                                f"{ctx.label} 无响应（{supervisor.reason}）"),
                   advice=text("Check its power and cable (network or RS-232); power-cycle it; "
                               "if it stays silent, tell the project office and prepare the alternate room.",
                               "检查设备电源和线缆（网线或串口线），重启设备；仍无响应则报告项目办并准备备用会议室。"),
                   tried=tried, playbook="device-offline")


@check("power_on", capability=HasPower, order=10, title=text("Powers on", "开机"))
async def power_on(ctx: CheckContext) -> Outcome:
    if ctx.runtime.supervisor.status not in (Status.ONLINE, Status.FAULT):
        return Outcome(Verdict.NOT_DONE, problem=text("device not reachable", "设备不在线"))
    tried = []
    if ctx.device.state.get("power") is not Power.ON:
        try:
            await ctx.execute(SetPower(on=True))
        except DeviceError as exc:
            return Outcome(Verdict.FAIL, measured=str(ctx.device.state.get("power")),
                           problem=text(f"refused to power on: {exc}", f"开机指令被拒绝：{exc}"),
                           advice=text("Check the device's front panel for an error; power-cycle it.",
                                       "查看设备面板报错，断电重启。"),
                           playbook="device-offline")
        tried.append(text("sent power on", "已发送开机指令"))
    if await wait_for(lambda: ctx.device.state.get("power") is Power.ON, within=ctx.thresholds.power_on_within):
        return Outcome(Verdict.PASS, measured="on", tried=tried)
    state = ctx.device.state.get("power")
    return Outcome(Verdict.FAIL, measured=str(state),
                   problem=text(f"not on after {ctx.thresholds.power_on_within:g} s (power: {state})",
                                f"{ctx.thresholds.power_on_within:g} 秒后仍未开机（状态：{state}）"),
                   advice=text("Look for a lamp or temperature error on the device; let it cool and try again.",
                               "检查灯泡或温度报警；冷却后再试。"),
                   tried=tried, playbook="device-offline")


@check("service_healthy", capability=HasHealth, order=20, title=text("Service answers", "服务可用"))
async def service_healthy(ctx: CheckContext) -> Outcome:
    health = ctx.device.state.get("health")
    if health is not None and health.ok and ctx.runtime.supervisor.status is Status.ONLINE:
        return Outcome(Verdict.PASS, measured=f"{health.detail}, {health.latency_ms:g} ms")
    return Outcome(Verdict.FAIL, measured=health.detail if health else None,
                   problem=text(f"{ctx.label} is not healthy: {health.detail if health else 'no answer'}",
                                f"{ctx.label} 服务异常：{health.detail if health else '无响应'}"),
                   advice=text("Restart the terminal or server; check its network link; call its administrator.",
                               "重启终端或服务器，检查网络连接，联系其管理员。"),
                   playbook="device-offline")
