"""The fault kinds roomctl knows, each with how to tell, from a device's state, whether it
is there — shared by the playbooks (did the remedy work?) and monitoring (raise an alert).

A detector answers True (the fault is there), False (it is not) or None (the device does
not say: a projector that reports no signal state). Kinds are written against
capabilities, never against a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.checks.base import text
from drivers.capabilities import (Antenna, HasAudioLevels, HasBattery, HasErrorStatus, HasInputs, HasRf,
                                  HasTemperature, HasWirelessChannels, Level, Transmitter)
from drivers.capabilities.audio import RF_DROPOUT_DBM
from drivers.status import Status


@dataclass
class FaultScope:
    """Where to look: a device (and a channel of it), with what the meeting asks of it."""

    runtime: Any  # controller.site.DeviceRuntime
    channel: int | None = None
    need_minutes: float = 0.0  # a battery must last this long
    band: tuple[float, float] = (21.0, 25.0)  # room temperature, °C

    @property
    def state(self) -> dict[str, Any]:
        return self.runtime.device.state

    def channel_value(self, key: str) -> Any:
        return self.state.get(key, {}).get(self.channel)


Detector = Callable[[FaultScope], "bool | None"]


@dataclass(frozen=True)
class FaultKind:
    id: str
    title: dict[str, str]
    applies_to: tuple[type, ...]  # the device has one of these capabilities; () = every device
    detect: Detector
    per_channel: bool = False
    severity: str = "warning"
    # What an alternate room must offer when the booking does not say (empty: what the device offers).
    needs: tuple[str, ...] = ()

    def applies(self, device: object) -> bool:
        return not self.applies_to or isinstance(device, self.applies_to)


def _offline(scope: FaultScope) -> bool:
    return scope.runtime.supervisor.status in (Status.OFFLINE, Status.CONNECTING, Status.BAD_CONFIG)


def _component(name: str) -> Detector:
    def detect(scope: FaultScope) -> bool | None:
        errors = scope.state.get("errors")
        if errors is None or _offline(scope):
            return None
        return getattr(errors, name) is Level.ERROR

    return detect


def _no_signal(scope: FaultScope) -> bool | None:
    signal = scope.state.get("input_signal")  # a display that reports it; most only show it on screen
    return None if signal is None or _offline(scope) else not signal


def _transmitter(scope: FaultScope) -> Transmitter | None:
    return scope.channel_value("transmitters")


def _battery_low(scope: FaultScope) -> bool | None:
    battery = scope.channel_value("batteries")
    transmitter = _transmitter(scope)
    if battery is None or transmitter is None or not transmitter.present:
        return None
    if battery.is_flat:
        return True
    if isinstance(battery.minutes_left, int):
        return battery.minutes_left < scope.need_minutes
    return None  # calculating, unknown: not yet known either way


def _transmitter_off(scope: FaultScope) -> bool | None:
    transmitter = _transmitter(scope)
    return None if transmitter is None or _offline(scope) else not transmitter.present


def _rf_lost(scope: FaultScope) -> bool | None:
    link, transmitter = scope.channel_value("rf"), _transmitter(scope)
    if link is None or transmitter is None or _offline(scope):
        return None
    if not transmitter.present:
        return False  # a mic switched off has no RF to lose
    return link.antenna is Antenna.NONE or (link.level_dbm is not None and link.level_dbm < RF_DROPOUT_DBM)


def _interference(scope: FaultScope) -> bool | None:
    link = scope.channel_value("rf")
    return None if link is None or _offline(scope) else bool(link.interference)


def _clipping(scope: FaultScope) -> bool | None:
    clipping = scope.channel_value("clipping")
    return None if clipping is None or _offline(scope) else bool(clipping)


def _out_of_band(scope: FaultScope) -> bool | None:
    temperature = scope.state.get("temperature")
    if temperature is None or _offline(scope):
        return None
    low, high = scope.band
    return not low <= temperature <= high


KINDS: dict[str, FaultKind] = {kind.id: kind for kind in (
    FaultKind("device-offline", text("Device offline", "设备离线"), (), _offline, severity="critical"),
    FaultKind("projector-lamp", text("Projector lamp failure", "投影机灯泡故障"), (HasErrorStatus,),
              _component("lamp"), severity="critical", needs=("input",)),
    FaultKind("projector-over-temperature", text("Projector over temperature", "投影机过热"), (HasErrorStatus,),
              _component("temperature"), severity="critical", needs=("input",)),
    FaultKind("projector-cover", text("Projector lamp cover open", "投影机灯罩未关"), (HasErrorStatus,),
              _component("cover"), severity="critical", needs=("input",)),
    FaultKind("no-input-signal", text("No input signal", "无输入信号"), (HasInputs,), _no_signal, needs=("input",)),
    FaultKind("mic-battery-low", text("Mic battery low", "话筒电量不足"), (HasBattery,), _battery_low,
              per_channel=True, needs=("wireless",)),
    FaultKind("mic-transmitter-off", text("Mic transmitter off", "话筒发射机未开"), (HasWirelessChannels,),
              _transmitter_off, per_channel=True, needs=("wireless",)),
    FaultKind("rf-loss", text("RF loss", "无线信号丢失"), (HasRf,), _rf_lost, per_channel=True, severity="critical",
              needs=("wireless",)),
    FaultKind("interference", text("RF interference", "无线干扰"), (HasRf,), _interference, per_channel=True,
              needs=("wireless",)),
    FaultKind("clipping", text("Clipping", "削波失真"), (HasAudioLevels,), _clipping, per_channel=True,
              needs=("faders",)),
    FaultKind("climate-not-reaching-target", text("Climate not reaching target", "室温未达标"), (HasTemperature,),
              _out_of_band, needs=("temperature",)),
)}


def channel_label(runtime, channel: int | None, audio=None) -> str:
    """What people call it: "Mic 2 — Chair" on a receiver, "Mixer Ch 3 — Podium" on a mixer.

    ``audio`` is the room's ``audio:`` config: its mic names come first, then what the device reports.
    """
    name = runtime.config.name or runtime.id
    if channel is None:
        return name
    mics = audio.mics if audio is not None else []
    if isinstance(runtime.device, HasWirelessChannels):
        mic = next((m for m in mics if m.receiver == runtime.id and m.channel == channel), None)
        if mic is not None:
            return mic.label
        wireless = runtime.device.state.get("channels", {}).get(channel)
        label = f"Mic {channel}"
        return f"{label} — {wireless.name}" if wireless is not None and wireless.name else f"{name} {label}"
    mic = next((m for m in mics if m.mixer == runtime.id and m.input == channel), None)
    names = runtime.device.state.get("channel_names", {})
    label = f"{name} Ch {channel}"
    if mic is not None:
        return f"{label} — {mic.name}"
    return f"{label} — {names[channel]}" if names.get(channel) else label
