"""Sound: every mic on and charged for the meeting, RF clean, spares ready, the mixer
on its baseline with phantom where needed, nothing clipping — and the speak test."""

from __future__ import annotations

import asyncio
import time

from controller.audio_config import MicConfig
from controller.checks.base import CheckContext, Outcome, PromptRequest, Verdict, check, text
from drivers.capabilities.audio import (
    RF_DROPOUT_DBM,
    HasAudioLevels,
    HasBattery,
    HasPhantom,
    HasRf,
    HasScenes,
    HasWirelessChannels,
    RecallScene,
    RuntimeState,
    SetPhantom,
)
from drivers.errors import DeviceError
from drivers.status import Status

# How often the speak test looks at the meters while the technician talks.
METER_RECHECK = 0.05
# Below this many bars a battery whose runtime is not known yet cannot be trusted.
MIN_BARS_WITHOUT_RUNTIME = 3


def _mics(ctx: CheckContext, *, spares: bool) -> list[MicConfig]:
    """This receiver's mics as the room config lists them; every channel when it lists none."""
    listed = [m for m in ctx.room_config.audio.mics if m.receiver == ctx.device_id] if ctx.room_config else []
    if not listed and not spares and not (ctx.room_config and ctx.room_config.audio.mics):
        channels = ctx.device.state.get("channels", {})
        listed = [MicConfig(name=(channels[n].name.strip() if n in channels and channels[n].name.strip() else f"ch {n}"),
                            receiver=ctx.device_id, channel=n) for n in ctx.device.channel_numbers()]
    return [m for m in listed if m.spare == spares]


def _reachable(ctx: CheckContext) -> bool:
    return ctx.runtime.supervisor.status in (Status.ONLINE, Status.FAULT)


def _unreachable(ctx: CheckContext) -> Outcome:
    return Outcome(Verdict.NOT_DONE, problem=text("receiver not reachable", "接收机不在线"))


TX_ADVICE = text("Switch the transmitter on; if it stays dark, fit a charged battery or hand over the spare mic.",
                 "打开发射器；仍不亮则更换充好电的电池或换用备用话筒。")
BATTERY_ADVICE = text("Fit a charged battery now, or hand over the spare mic.", "立即更换充好电的电池，或换用备用话筒。")


@check("mic_on", capability=HasWirelessChannels, order=20, title=text("Mic switched on", "话筒已开启"))
async def mic_on(ctx: CheckContext) -> list[Outcome]:
    if not _reachable(ctx):
        return [_unreachable(ctx)]
    transmitters = ctx.device.state.get("transmitters", {})
    outcomes = []
    for mic in _mics(ctx, spares=False):
        tx = transmitters.get(mic.channel)
        if tx is not None and tx.present:
            outcomes.append(Outcome(Verdict.PASS, subject=mic.label, measured=tx.model or "on"))
        else:
            outcomes.append(Outcome(Verdict.FAIL, subject=mic.label, measured="off",
                                    problem=text(f"{mic.label}: transmitter off", f"{mic.label}：发射器未开启"),
                                    advice=TX_ADVICE, playbook="mic-transmitter-off"))
    return outcomes


def _battery_outcome(ctx: CheckContext, mic: MicConfig, battery, need: float) -> Outcome:
    if battery is None:
        return Outcome(Verdict.FAIL, subject=mic.label, problem=text(f"{mic.label}: no battery reading", f"{mic.label}：无电池读数"),
                       advice=BATTERY_ADVICE, playbook="mic-battery-low")
    minutes = battery.minutes_left
    if isinstance(minutes, int):
        measured = f"{minutes} min (need {need:.0f})"
        if minutes >= need:
            return Outcome(Verdict.PASS, subject=mic.label, measured=measured)
        return Outcome(Verdict.FAIL, subject=mic.label, measured=measured,
                       problem=text(f"{mic.label}: battery lasts {minutes} min; the meeting needs {need:.0f}",
                                    f"{mic.label}：电池可用 {minutes} 分钟，会议需要 {need:.0f} 分钟"),
                       advice=BATTERY_ADVICE, playbook="mic-battery-low")
    bars = battery.bars
    measured = f"{bars} bars, runtime {minutes.value if isinstance(minutes, RuntimeState) else minutes}"
    if isinstance(bars, int) and bars >= MIN_BARS_WITHOUT_RUNTIME:
        # The receiver is still estimating; bars say it is well charged. Look again at T-30.
        return Outcome(Verdict.WARN, subject=mic.label, measured=measured,
                       problem=text(f"{mic.label}: runtime not known yet", f"{mic.label}：剩余时间尚未估算"),
                       advice=text("Check the battery again at the second check.", "第二次检查时再看电池。"))
    return Outcome(Verdict.FAIL, subject=mic.label, measured=measured,
                   problem=text(f"{mic.label}: battery low or unknown", f"{mic.label}：电量低或未知"),
                   advice=BATTERY_ADVICE, playbook="mic-battery-low")


@check("mic_battery", capability=HasBattery, order=25, title=text("Battery lasts the meeting", "电池够用"))
async def mic_battery(ctx: CheckContext) -> list[Outcome]:
    if not _reachable(ctx):
        return [_unreachable(ctx)]
    batteries = ctx.device.state.get("batteries", {})
    transmitters = ctx.device.state.get("transmitters", {})
    need = ctx.meeting_minutes + ctx.thresholds.battery_margin_minutes
    outcomes = []
    for mic in _mics(ctx, spares=False):
        tx = transmitters.get(mic.channel)
        if tx is None or not tx.present:
            continue  # reported by mic_on; a battery reading without a transmitter means nothing
        outcomes.append(_battery_outcome(ctx, mic, batteries.get(mic.channel), need))
    return outcomes


@check("spare_mics", capability=HasWirelessChannels, order=26, title=text("Spare mics ready", "备用话筒就绪"))
async def spare_mics(ctx: CheckContext) -> list[Outcome]:
    spares = _mics(ctx, spares=True)
    if not spares:
        return []
    if not _reachable(ctx):
        return [_unreachable(ctx)]
    transmitters = ctx.device.state.get("transmitters", {})
    batteries = ctx.device.state.get("batteries", {})
    need = ctx.meeting_minutes + ctx.thresholds.battery_margin_minutes
    outcomes = []
    for mic in spares:
        tx = transmitters.get(mic.channel)
        if tx is None or not tx.present:
            outcomes.append(Outcome(Verdict.FAIL, subject=mic.label, measured="off",
                                    problem=text(f"spare {mic.label} is not switched on", f"备用{mic.label}未开启"),
                                    advice=text("Switch the spare on with a charged battery and keep it at the desk.",
                                                "装上充好电的电池并开启备用话筒，放在音控台。")))
            continue
        outcomes.append(_battery_outcome(ctx, mic, batteries.get(mic.channel), need))
    return outcomes


@check("mic_rf", capability=HasRf, order=27, title=text("Clean RF", "射频正常"))
async def mic_rf(ctx: CheckContext) -> list[Outcome]:
    if not _reachable(ctx):
        return [_unreachable(ctx)]
    rf = ctx.device.state.get("rf", {})
    transmitters = ctx.device.state.get("transmitters", {})
    outcomes = []
    for mic in _mics(ctx, spares=False):
        tx, link = transmitters.get(mic.channel), rf.get(mic.channel)
        if tx is None or not tx.present or link is None:
            continue
        measured = f"{link.level_dbm} dBm, antenna {link.antenna.value}"
        if link.interference:
            outcomes.append(Outcome(Verdict.FAIL, subject=mic.label, measured=measured + ", interference",
                                    problem=text(f"{mic.label}: interference on its frequency", f"{mic.label}：频率受干扰"),
                                    advice=text("Run a frequency scan and move the channel to a clean frequency.",
                                                "进行频率扫描，把该通道改到干净的频率。"), playbook="interference"))
        elif link.level_dbm is None or link.level_dbm <= RF_DROPOUT_DBM or link.antenna.value == "none":
            outcomes.append(Outcome(Verdict.FAIL, subject=mic.label, measured=measured,
                                    problem=text(f"{mic.label}: RF too weak to hold", f"{mic.label}：射频信号过弱"),
                                    advice=text("Check the receiver's antennas and cables; bring the transmitter closer.",
                                                "检查接收机天线及馈线；让发射器靠近接收天线。"), playbook="rf-loss"))
        else:
            outcomes.append(Outcome(Verdict.PASS, subject=mic.label, measured=measured))
    return outcomes


@check("no_clipping", capability=HasAudioLevels, order=28, title=text("Nothing clipping", "无削波"))
async def no_clipping(ctx: CheckContext) -> Outcome:
    if not _reachable(ctx):
        return _unreachable(ctx)
    clipping = sorted(str(ch) for ch, clips in (ctx.device.state.get("clipping") or {}).items() if clips)
    if not clipping:
        return Outcome(Verdict.PASS, measured="no clip")
    return Outcome(Verdict.FAIL, measured="clipping: " + ", ".join(clipping),
                   problem=text(f"channel {', '.join(clipping)} clipping", f"通道 {', '.join(clipping)} 削波"),
                   advice=text("Lower the input gain of the clipping channel until its peaks stay below 0 dBFS.",
                               "降低削波通道的输入增益，使峰值低于 0 dBFS。"), playbook="clipping")


@check("mixer_baseline", capability=HasScenes, order=15, title=text("Mixer on the room's baseline", "调音台为基准场景"))
async def mixer_baseline(ctx: CheckContext) -> list[Outcome]:
    audio = ctx.room_config.audio if ctx.room_config else None
    if audio is None or audio.mixer != ctx.device_id or audio.baseline_scene is None:
        return []
    if not _reachable(ctx):
        return [_unreachable(ctx)]
    want, tried = audio.baseline_scene, []
    if ctx.device.state.get("scene") != want:
        try:
            await ctx.execute(RecallScene(scene=want))
            tried.append(text(f"recalled scene {want}", f"已调用场景 {want}"))
        except DeviceError as exc:
            tried.append(text(f"recalling scene {want} failed: {exc}", f"调用场景 {want} 失败：{exc}"))
    ok = await _eventually(lambda: ctx.device.state.get("scene") == want, ctx.thresholds.reconnect_wait)
    if ok:
        return [Outcome(Verdict.PASS, measured=f"scene {want}", tried=tried)]
    return [Outcome(Verdict.FAIL, measured=f"scene {ctx.device.state.get('scene')}", tried=tried,
                    problem=text(f"the mixer is not on scene {want}", f"调音台未处于场景 {want}"),
                    advice=text(f"Load scene {want} on the console by hand.", f"在调音台上手动调用场景 {want}。"))]


@check("phantom_power", capability=HasPhantom, order=16, title=text("Phantom power", "幻象供电"))
async def phantom_power(ctx: CheckContext) -> list[Outcome]:
    audio = ctx.room_config.audio if ctx.room_config else None
    if audio is None or audio.mixer != ctx.device_id or not audio.phantom:
        return []
    if not _reachable(ctx):
        return [_unreachable(ctx)]
    outcomes = []
    for channel in audio.phantom:
        tried = []
        if not (ctx.device.state.get("phantom") or {}).get(channel):
            try:
                await ctx.execute(SetPhantom(channel=channel, on=True))
                tried.append(text(f"switched +48 V on for input {channel}", f"已打开输入 {channel} 的 +48 V"))
            except DeviceError as exc:
                tried.append(text(f"switching +48 V failed: {exc}", f"打开 +48 V 失败：{exc}"))
        ok = await _eventually(lambda: (ctx.device.state.get("phantom") or {}).get(channel), ctx.thresholds.reconnect_wait)
        subject = f"input {channel}"
        outcomes.append(Outcome(Verdict.PASS, subject=subject, measured="+48 V", tried=tried) if ok else
                        Outcome(Verdict.FAIL, subject=subject, tried=tried,
                                problem=text(f"no phantom power on input {channel}", f"输入 {channel} 无幻象供电"),
                                advice=text("Switch +48 V on at the console for the condenser mics.",
                                            "在调音台上为电容话筒打开 +48 V。")))
    return outcomes


@check("speak_test", capability=HasWirelessChannels, order=90, title=text("Speak test", "讲话测试"))
async def speak_test(ctx: CheckContext) -> list[Outcome]:
    """Each mic in turn: the technician speaks; its receiver level and its mixer input must rise."""
    mics = [m for m in _mics(ctx, spares=False) if m.mixer is not None]
    if not mics:
        return []
    if not ctx.attended:
        return [Outcome(Verdict.NOT_DONE, subject=m.label,
                        problem=text("nobody to speak: run the self-test attended", "无人讲话：请在现场运行自检"))
                for m in mics]
    threshold = ctx.room_config.audio.speak_level_dbfs
    within = ctx.thresholds.speak_within
    outcomes = []
    for mic in mics:
        transmitters = ctx.device.state.get("transmitters", {})
        if not (transmitters.get(mic.channel) and transmitters[mic.channel].present):
            outcomes.append(Outcome(Verdict.NOT_DONE, subject=mic.label,
                                    problem=text("transmitter off", "发射器未开启"), playbook="mic-transmitter-off"))
            continue
        mixer = ctx.site.device(ctx.room, mic.mixer).device
        heard_rx = lambda: (ctx.device.state.get("levels") or {}).get(mic.channel, -200) > threshold
        heard_mix = lambda: (mixer.state.get("levels") or {}).get(mic.input, -200) > threshold
        request = PromptRequest(kind="speak", room=ctx.room, device=ctx.device_id, channel=mic.channel, within=within,
                                message=text(f"Speak into {mic.label}", f"请对着 {mic.label} 讲话"))
        answered = asyncio.ensure_future(ctx.prompt(request))
        seen = {"receiver": False}

        def both_heard() -> bool:
            seen["receiver"] = seen["receiver"] or heard_rx()  # remember it: a voice comes and goes
            return heard_rx() and heard_mix()

        heard = await _eventually(both_heard, within)
        declined = answered.done() and not answered.cancelled() and answered.exception() is None and not answered.result()
        answered.cancel()
        if not heard and declined:
            outcomes.append(Outcome(Verdict.NOT_DONE, subject=mic.label,
                                    problem=text("nobody answered the prompt", "无人响应提示")))
            continue
        rx = (ctx.device.state.get("levels") or {}).get(mic.channel)
        mx = (mixer.state.get("levels") or {}).get(mic.input)
        measured = f"receiver {_db(rx)}, mixer in {mic.input} {_db(mx)}"
        if heard:
            outcomes.append(Outcome(Verdict.PASS, subject=mic.label, measured=measured))
        elif seen["receiver"]:
            outcomes.append(Outcome(Verdict.FAIL, subject=mic.label, measured=measured,
                                    problem=text(f"{mic.label} is heard by the receiver but not at mixer input {mic.input}",
                                                 f"接收机收到 {mic.label}，但调音台输入 {mic.input} 无信号"),
                                    advice=text("Check the cable from the receiver's output to the mixer input and the channel's mute.",
                                                "检查接收机输出到调音台输入的线缆及通道静音。"), playbook="no-input-signal"))
        else:
            outcomes.append(Outcome(Verdict.FAIL, subject=mic.label, measured=measured,
                                    problem=text(f"{mic.label} was not heard within {within:g} s",
                                                 f"{within:g} 秒内未听到 {mic.label}"),
                                    advice=text("Check the transmitter's mute switch and battery; try the spare mic.",
                                                "检查发射器静音开关和电池；换用备用话筒。"), playbook="mic-transmitter-off"))
    return outcomes


async def _eventually(condition, within: float) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(METER_RECHECK)
    return True


def _db(value) -> str:
    return "—" if value is None else f"{value:.0f} dBFS"
