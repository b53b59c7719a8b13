"""A Shure digital wireless receiver on TCP 2202: ULX-D / QLX-D, SLX-D or Axient Digital.

Written from Shure's command strings documents (ULX-D, SLX-D, Axient Digital), not
from our driver; the model (``--model SLXD4D``, ``AD4Q``; default ULXD4D) picks the
family whose dialect it speaks — parameter names, scales, widths and SAMPLE layout
are in ``DIALECTS``. The receiver holds 1, 2 or 4 channels; each has a transmitter
that can be switched on and off, whose battery drains over the injected clock (so a
test or the demo can run hours in seconds), a "talker" that makes the channel's audio level move, RF level with
diversity between antennas A and B, and interference. It answers GET and SET with
REP, refuses what it cannot do with REP ERR, reports every non-metered change on its
own to every connection, and sends SAMPLE meters at each channel's METER_RATE.

A simplification: when RF is lost (out of range, antenna cable off) the receiver keeps
reporting the transmitter and battery it last heard, while RF and audio fall to the
bottom of their scales; only a transmitter switched off reports no model (TX_TYPE UNKN,
TX_MODEL UNKNOWN).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulators.base import Clock, Session, TcpLineSimulator, corrupt
from simulators.faults import Fault

DEFAULT_PORT = 2202
# Real time between looks at the clock-driven state (battery bars dropping) and at the
# meters' schedule; the clock may be a test's, so changes cannot be put on timers.
WATCH_INTERVAL = 0.05
CALCULATING_SECONDS = 60.0   # after switch-on a transmitter needs a minute to estimate runtime
BATTERY_HOURS = 8.0          # a full rechargeable in a ULXD2 handheld, roughly
METER_RATE_MIN_MS = 100      # METER_RATE accepts 00100-99999 ms, or 00000 for off
METER_RATE_MAX_MS = 99999
NOISE_FLOOR_DBFS = -50       # AUDIO_LVL 000: the bottom of the receiver's meter
HEALTHY_RF_DBM = -58         # a well-placed handheld across a meeting room

MODELS = {  # model -> (channels, family, has AUDIO_MUTE)
    "ULXD4": (1, "ulxd", True), "ULXD4D": (2, "ulxd", True), "ULXD4Q": (4, "ulxd", True),
    "QLXD4": (1, "ulxd", False),
    "SLXD4": (1, "slxd", False), "SLXD4D": (2, "slxd", False),
    "AD4D": (2, "axient", True), "AD4Q": (4, "axient", True),
}
MODEL_WIDTH = 32
NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!\"#$%&'()*+,-./:;<=?@[\\]^_`~ ")


@dataclass(frozen=True)
class Dialect:
    """How one family names and scales things on the wire, from its command strings document."""

    family: str
    transmitter_param: str          # the transmitter's model
    no_transmitter: str             # what that parameter says when none is on
    transmitter_model: str          # the model our simulated transmitter reports
    battery: dict[str, str]         # figure -> parameter; figures the family does not report are absent
    name_width: int                 # CHAN_NAME as REP pads it
    name_set_width: int             # the longest name SET x CHAN_NAME takes
    device_id_width: int
    firmware_width: int
    frequency_digits: int           # FREQUENCY in kHz, zero-padded to this many digits
    interference: tuple[str, str, str] | None  # (parameter, no interference, interference)
    audio_floor_dbfs: int           # the bottom of the audio meter
    rf_floor_dbm: int               # the bottom of the RF meter: nothing received
    meter_rate_max_ms: int


DIALECTS = {
    "ulxd": Dialect(
        family="ulxd", transmitter_param="TX_TYPE", no_transmitter="UNKN", transmitter_model="ULXD2",
        battery={"bars": "BATT_BARS", "percent": "BATT_CHARGE", "minutes": "BATT_RUN_TIME", "type": "BATT_TYPE"},
        name_width=8, name_set_width=8, device_id_width=8, firmware_width=18, frequency_digits=6,
        interference=("RF_INT_DET", "NONE", "CRITICAL"), audio_floor_dbfs=NOISE_FLOOR_DBFS, rf_floor_dbm=-128,
        meter_rate_max_ms=99999,
    ),
    # SLX-D: TX_MODEL and two battery figures; no mute, no interference report; names pad
    # to 31 in REP but SET takes 8; FREQUENCY 7 digits; levels and RSSI are value - 120.
    "slxd": Dialect(
        family="slxd", transmitter_param="TX_MODEL", no_transmitter="UNKNOWN", transmitter_model="SLXD2",
        battery={"bars": "TX_BATT_BARS", "minutes": "TX_BATT_MINS"},
        name_width=31, name_set_width=8, device_id_width=8, firmware_width=24, frequency_digits=7,
        interference=None, audio_floor_dbfs=-120, rf_floor_dbm=-120, meter_rate_max_ms=65535,
    ),
    "axient": Dialect(
        family="axient", transmitter_param="TX_MODEL", no_transmitter="UNKNOWN", transmitter_model="AD2",
        battery={"bars": "TX_BATT_BARS", "percent": "TX_BATT_CHARGE_PERCENT", "minutes": "TX_BATT_MINS",
                 "type": "TX_BATT_TYPE"},
        name_width=31, name_set_width=31, device_id_width=31, firmware_width=24, frequency_digits=7,
        interference=("INTERFERENCE_STATUS", "NONE", "DETECTED"), audio_floor_dbfs=-120, rf_floor_dbm=-120,
        meter_rate_max_ms=65535,
    ),
}
DIVERSITY_SPREAD_DB = 6  # the antenna not chosen hears the transmitter a little weaker


class Refused(Exception):
    """The receiver answers REP ERR."""


@dataclass
class Channel:
    number: int
    name: str
    frequency_khz: int
    gain: int = 18                 # AUDIO_GAIN 000-060; 018 = 0 dB
    muted: bool = False
    meter_rate_ms: int = 0
    next_sample: float = math.inf  # real monotonic time of the next SAMPLE
    transmitter_model: str = "ULXD2"  # set from the dialect
    transmitter_on: bool = True
    battery_type: str = "LION"
    charge_at_switch_on: float = 1.0  # 0-1
    switched_on_at: float = 0.0       # clock time
    estimate_from: float = 0.0        # clock time the runtime estimate is ready
    talking: bool = False
    talker_dbfs: float = -20.0        # a voice at the transmitter, before the receiver's gain
    reported: dict[str, str] = field(default_factory=dict)  # what connections were last told


class ShureSimulator(TcpLineSimulator):
    protocol = "shure"
    description = "Shure ULX-D/QLX-D, SLX-D or Axient Digital wireless receiver (TCP command strings, REP and SAMPLE)"
    DEFAULT_PORT = DEFAULT_PORT
    terminator = b">"
    reply_terminator = b">"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "ULXD4D",
        channels: int | None = None,
        names: Iterable[str] | None = None,
        frequencies: Iterable[int] | None = None,
        device_id: str = "ROOMCTL",
        firmware: str = "2.7.6.0",
        battery_hours: float = BATTERY_HOURS,
        battery_charge: float = 1.0,
        transmitters: Iterable[int] | None = None,
        talk: Iterable[int] = (),
        rf_dbm: int = HEALTHY_RF_DBM,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(host=host, port=port, clock=clock)
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
        count, family, self.has_mute = MODELS[model]
        self.dialect = DIALECTS[family]
        count = int(channels or count)
        if not 1 <= count <= 4:
            raise ValueError("a receiver has 1-4 channels")
        self.model, self.device_id, self.firmware = model, device_id, firmware
        self.battery_seconds = float(battery_hours) * 3600
        self.rf_dbm = int(rf_dbm)
        names = list(names or [f"MIC {n}" for n in range(1, count + 1)])
        frequencies = list(frequencies or [578350 + 1000 * n for n in range(count)])
        with_transmitter = set(range(1, count + 1) if transmitters is None else (int(t) for t in transmitters))
        now = self.clock()
        self.channels: dict[int, Channel] = {}
        for n in range(1, count + 1):
            name = names[n - 1] if n <= len(names) else f"MIC {n}"
            channel = Channel(n, _name(name, width=self.dialect.name_set_width),
                              int(frequencies[n - 1] if n <= len(frequencies) else 578350 + 1000 * n),
                              transmitter_model=self.dialect.transmitter_model, transmitter_on=n in with_transmitter,
                              charge_at_switch_on=float(battery_charge), switched_on_at=now, estimate_from=now)
            channel.talking = n in {int(t) for t in talk}
            self.channels[n] = channel
        for channel in self.channels.values():
            channel.reported = self._reportable(channel)
        self._watch: asyncio.Task | None = None
        self._random = random.Random(2202)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        self._watch = asyncio.create_task(self._watch_loop(), name="shure watch")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await super().stop()

    def reset(self) -> None:
        """Power-on after a reboot: metering is off; names, gains and frequencies are kept in flash."""
        for channel in self.channels.values():
            channel.meter_rate_ms, channel.next_sample = 0, math.inf

    # --- the talker, the transmitters (what a person does with a mic) ----------------------

    def talk(self, channel: int, *, level_dbfs: float = -20.0) -> None:
        self.channels[channel].talking = True
        self.channels[channel].talker_dbfs = level_dbfs

    def silence(self, channel: int) -> None:
        self.channels[channel].talking = False

    def switch_transmitter(self, channel: int, on: bool, *, charge: float | None = None) -> None:
        ch = self.channels[channel]
        if on and not ch.transmitter_on:
            ch.charge_at_switch_on = self._charge(ch) if charge is None else charge
            ch.switched_on_at = self.clock()
            ch.estimate_from = ch.switched_on_at + CALCULATING_SECONDS
        elif not on and ch.transmitter_on:
            ch.charge_at_switch_on = self._charge(ch)
        ch.transmitter_on = on
        self._report_changes()

    def send_raw(self, data: bytes) -> None:
        """Send bytes to every connection as they are: what a misbehaving firmware would send."""
        self._push(data)

    def audio_output(self, channel: int) -> Callable[[], float | None]:
        """The channel's output as a mixer input sees it: dBFS, None when nothing comes out."""
        ch = self.channels[channel]

        def level() -> float | None:
            if ch.muted or not self._transmitting(ch):
                return None
            return self._audio_dbfs(ch)

        return level

    # --- faults -----------------------------------------------------------------------------

    def on_fault(self, fault: Fault) -> None:
        super().on_fault(fault)
        self._report_changes()

    def clear_faults(self, fault: Fault | str | None = None) -> None:
        super().clear_faults(fault)
        self._report_changes()

    def _affected(self, fault: Fault, channel: Channel) -> bool:
        if fault not in self.faults:
            return False
        which = int(self.faults.params.get("channel", 0))
        return which in (0, channel.number)

    # --- physics, read off the clock ------------------------------------------------------

    def _transmitting(self, ch: Channel) -> bool:
        return ch.transmitter_on and not self._affected(Fault.TRANSMITTER_OFF, ch)

    def _charge(self, ch: Channel) -> float:
        if self._affected(Fault.BATTERY_FLAT, ch):
            return 0.0
        if not ch.transmitter_on:
            return ch.charge_at_switch_on
        used = (self.clock() - ch.switched_on_at) / self.battery_seconds
        return max(0.0, ch.charge_at_switch_on - used)

    def _linked(self, ch: Channel) -> bool:
        return self._transmitting(ch) and not self._affected(Fault.RF_LOSS, ch)

    def _rf_dbm(self, ch: Channel) -> int:
        if not self._linked(ch):
            return self.dialect.rf_floor_dbm  # nothing received: the bottom of the scale
        return self.rf_dbm + self._random.randint(-2, 2)

    def _rssi_by_antenna(self, ch: Channel) -> tuple[int, int]:
        """RSSI at antennas A and B: the chosen one hears the transmitter best."""
        best = self._rf_dbm(ch)
        if not self._linked(ch):
            return best, best
        other = max(self.dialect.rf_floor_dbm, best - DIVERSITY_SPREAD_DB)
        return (best, other) if self._antenna(ch) == "AX" else (other, best)

    def _antenna(self, ch: Channel) -> str:
        if not self._linked(ch):
            return "XX"
        return "AX" if int(self.clock() * 2 + ch.number) % 2 else "XB"  # diversity flips between antennas

    def _audio_dbfs(self, ch: Channel) -> float:
        floor = self.dialect.audio_floor_dbfs
        if not self._linked(ch) or not ch.talking:
            return floor
        # Syllables: the level swings a few dB around the talker's level.
        swing = 4 * math.sin(self.clock() * 7.3 + ch.number) + self._random.uniform(-2, 2)
        return min(0.0, max(floor, ch.talker_dbfs + swing + (ch.gain - 18)))

    def _peak_dbfs(self, rms_dbfs: float) -> float:
        """A voice's peaks stand some 10 dB above its RMS level."""
        if rms_dbfs <= self.dialect.audio_floor_dbfs:
            return rms_dbfs
        return min(0.0, rms_dbfs + 10)

    # --- the values as the receiver reports them ------------------------------------------------

    def _battery(self, ch: Channel) -> dict[str, str]:
        if not self._transmitting(ch):
            figures = {"bars": "255", "percent": "255", "minutes": "65535", "type": "UNKN"}
        else:
            charge = self._charge(ch)
            if self.clock() < ch.estimate_from and not self._affected(Fault.BATTERY_FLAT, ch):
                runtime = 65534
            else:
                runtime = int(charge * self.battery_seconds / 60)
            figures = {
                "bars": f"{math.ceil(charge * 5):03d}",
                "percent": f"{round(charge * 100):03d}",
                "minutes": f"{runtime:05d}",
                "type": ch.battery_type,
            }
        return {param: figures[figure] for figure, param in self.dialect.battery.items()}

    def _reportable(self, ch: Channel) -> dict[str, str]:
        """Every non-metered channel value, formatted for REP: changes are reported unasked."""
        d = self.dialect
        values = {
            "CHAN_NAME": "{" + ch.name.ljust(d.name_width) + "}",
            "FREQUENCY": f"{ch.frequency_khz:0{d.frequency_digits}d}",
            d.transmitter_param: ch.transmitter_model if self._transmitting(ch) else d.no_transmitter,
            "AUDIO_GAIN": f"{ch.gain:03d}",
            "METER_RATE": f"{ch.meter_rate_ms:05d}",
            **self._battery(ch),
        }
        if d.interference is not None:
            param, clear, detected = d.interference
            values[param] = detected if self._affected(Fault.INTERFERENCE, ch) else clear
        if self.has_mute:
            values["AUDIO_MUTE"] = "ON" if ch.muted else "OFF"
        return values

    def _metered(self, ch: Channel) -> dict[str, str]:
        """Metered values (no REP when they change); RSSI, one REP per antenna, is in ``_rssi_reps``."""
        audio = self._audio_dbfs(ch)
        if self.dialect.family == "ulxd":
            return {
                "RF_ANTENNA": self._antenna(ch),
                "RX_RF_LVL": f"{self._rf_dbm(ch) + 128:03d}",
                "AUDIO_LVL": f"{round(audio) + 50:03d}",
            }
        values = {
            "AUDIO_LEVEL_PEAK": f"{round(self._peak_dbfs(audio)) + 120:03d}",
            "AUDIO_LEVEL_RMS": f"{round(audio) + 120:03d}",
        }
        if self.dialect.family == "axient":
            values["ANTENNA_STATUS"] = "BB" if self._linked(ch) else "XX"
            values["CHAN_QUALITY"] = f"{5 if self._linked(ch) else 0:03d}" if self._transmitting(ch) else "255"
        return values

    def _rssi_reps(self, ch: Channel) -> bytes:
        """``< GET x RSSI 0 >`` on SLX-D and Axient: one REP per antenna."""
        return b"".join(_rep(ch.number, "RSSI", f"{antenna} {dbm + 120:03d}")
                        for antenna, dbm in enumerate(self._rssi_by_antenna(ch), start=1))

    def _sample(self, ch: Channel) -> bytes:
        m = self._metered(ch)
        if self.dialect.family == "ulxd":  # < SAMPLE x ALL nn aaa eee >
            fields = [m["RF_ANTENNA"], m["RX_RF_LVL"], m["AUDIO_LVL"]]
        elif self.dialect.family == "slxd":  # < SAMPLE x ALL ppp rrr sss >: one combined RSSI
            fields = [m["AUDIO_LEVEL_PEAK"], m["AUDIO_LEVEL_RMS"], f"{max(self._rssi_by_antenna(ch)) + 120:03d}"]
        else:  # < SAMPLE x ALL qual audBitmap audPeak audRms antStatus rfBitmapA rssiA rfBitmapB rssiB >
            quality = m["CHAN_QUALITY"]
            rms = int(m["AUDIO_LEVEL_RMS"]) - 120
            lit = sum(rms >= step for step in (-60, -50, -40, -30, -20, -12, -6))
            fields = [quality, f"{(1 << lit) - 1:03d}", m["AUDIO_LEVEL_PEAK"], m["AUDIO_LEVEL_RMS"],
                      m["ANTENNA_STATUS"]]
            for dbm in self._rssi_by_antenna(ch):
                bars = sum(dbm >= step for step in (-90, -83, -77, -70, -25))
                fields += [f"{(1 << bars) - 1:02d}", f"{dbm + 120:03d}"]
        return f"< SAMPLE {ch.number} ALL {' '.join(fields)} >".encode()

    def _device_values(self) -> dict[str, str]:
        return {
            "MODEL": "{" + self.model.ljust(MODEL_WIDTH) + "}",
            "DEVICE_ID": "{" + self.device_id.ljust(self.dialect.device_id_width) + "}",
            "FW_VER": "{" + self.firmware.ljust(self.dialect.firmware_width) + "}",
        }

    # --- requests ---------------------------------------------------------------------------------

    def respond(self, session: Session, line: bytes) -> bytes | None:
        text = line.decode("ascii", errors="replace").strip()
        if not text.startswith("<"):
            return b"< REP ERR >"
        words = text[1:].split(None, 3)
        try:
            reply = self._execute(session, words)
        except Refused:
            return b"< REP ERR >"
        return reply

    def _execute(self, session: Session, words: list[str]) -> bytes | None:
        if len(words) < 2 or words[0] not in ("GET", "SET"):
            raise Refused()
        verb, rest = words[0], words[1:]
        device = self._device_values()
        if rest[0] in device or rest[0] in ("FLASH",):
            if verb == "GET":
                return _rep(None, rest[0], device.get(rest[0], "OFF"))
            return self._set_device(rest)
        if not rest[0].isdigit() or len(rest) < 2:
            raise Refused()
        number, param = int(rest[0]), rest[1]
        value = " ".join(rest[2:]).strip() if verb == "SET" else None
        if number == 0:
            targets = list(self.channels.values())
        elif number in self.channels:
            targets = [self.channels[number]]
        else:
            raise Refused()
        if verb == "GET":
            if param == "ALL":
                lines = [_rep(None, k, v) for k, v in device.items()]
                for ch in targets:
                    values = {**self._reportable(ch), **self._metered(ch)}
                    lines += [_rep(ch.number, k, v) for k, v in values.items()]
                    if self.dialect.family != "ulxd":
                        lines.append(self._rssi_reps(ch))
                return b"".join(lines)
            if param == "RSSI" and self.dialect.family != "ulxd":
                return b"".join(self._rssi_reps(ch) for ch in targets)
            return b"".join(_rep(ch.number, param, self._value(ch, param)) for ch in targets)
        if value is None or value == "":
            raise Refused()
        for ch in targets:
            self._set(ch, param, value)
        replies = b"".join(_rep(ch.number, param, self._value(ch, param)) for ch in targets)
        for ch in targets:
            ch.reported = self._reportable(ch)
        self._push(replies, except_peer=session.peer)
        return replies

    def _value(self, ch: Channel, param: str) -> str:
        values = {**self._reportable(ch), **self._metered(ch)}
        if param not in values:
            raise Refused()
        return values[param]

    def _set(self, ch: Channel, param: str, value: str) -> None:
        if param == "AUDIO_GAIN":
            words = value.split()
            if len(words) == 2 and words[0] in ("INC", "DEC") and words[1].isdigit():
                gain = ch.gain + int(words[1]) * (1 if words[0] == "INC" else -1)
            elif len(words) == 1 and words[0].isdigit() and len(words[0]) <= 3:
                gain = int(words[0])
            else:
                raise Refused()
            if not 0 <= gain <= 60:
                raise Refused()
            ch.gain = gain
        elif param == "AUDIO_MUTE" and self.has_mute:
            if value not in ("ON", "OFF", "TOGGLE"):
                raise Refused()
            ch.muted = (not ch.muted) if value == "TOGGLE" else value == "ON"
        elif param == "CHAN_NAME":
            if not (value.startswith("{") and value.endswith("}")):
                raise Refused()
            ch.name = _name(value[1:-1].strip(), strict=True, width=self.dialect.name_set_width)
        elif param == "FREQUENCY":
            if not value.isdigit() or len(value) not in {6, self.dialect.frequency_digits}:
                raise Refused()
            ch.frequency_khz = int(value)
        elif param == "METER_RATE":
            if not value.isdigit() or len(value) > 5:
                raise Refused()
            rate = int(value)
            if rate and not METER_RATE_MIN_MS <= rate <= min(METER_RATE_MAX_MS, self.dialect.meter_rate_max_ms):
                raise Refused()
            ch.meter_rate_ms = rate
            ch.next_sample = time.monotonic() + rate / 1000 if rate else math.inf
        else:
            raise Refused()

    def _set_device(self, rest: list[str]) -> bytes:
        if rest[0] == "DEVICE_ID" and len(rest) >= 2:
            value = " ".join(rest[1:]).strip()
            width = self.dialect.device_id_width
            if not (value.startswith("{") and value.endswith("}")) or len(value) - 2 > width:
                raise Refused()
            self.device_id = _name(value[1:-1].strip(), strict=True, width=width)
            reply = _rep(None, "DEVICE_ID", self._device_values()["DEVICE_ID"])
            self._push(reply)
            return reply
        if rest[0] == "FLASH" and len(rest) >= 2 and rest[1] in ("ON", "OFF"):
            return _rep(None, "FLASH", rest[1])
        raise Refused()

    # --- what the receiver says unasked -------------------------------------------------------------

    def _can_speak(self) -> bool:
        return not self._silent() and Fault.NO_REPLY not in self.faults

    def _push(self, data: bytes, *, except_peer: str | None = None) -> None:
        if not data or not self._can_speak():
            return
        if Fault.GARBLED in self.faults:
            data = corrupt(data, self.reply_terminator)
        for writer in list(self._writers):
            peer = writer.get_extra_info("peername")
            if except_peer is not None and peer and f"{peer[0]}:{peer[1]}" == except_peer:
                continue
            if not writer.is_closing():
                writer.write(data)

    def _report_changes(self) -> None:
        for ch in self.channels.values():
            now = self._reportable(ch)
            changed = [k for k, v in now.items() if ch.reported.get(k) != v]
            ch.reported = now
            if changed:
                self._push(b"".join(_rep(ch.number, k, now[k]) for k in changed))

    def _send_samples(self) -> None:
        now = time.monotonic()
        for ch in self.channels.values():
            if now < ch.next_sample:
                continue
            ch.next_sample = max(ch.next_sample + ch.meter_rate_ms / 1000, now)
            self._push(self._sample(ch))

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                self._report_changes()
                self._send_samples()
            except Exception:  # a simulator bug must show, not stop the receiver
                import logging

                logging.getLogger(__name__).exception("shure simulator watch failed")

    # --- command line and config --------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", choices=sorted(MODELS),
                            help="receiver model, and so the dialect: ULX-D/QLX-D, SLX-D (SLXD4, SLXD4D) or "
                                 "Axient Digital (AD4D, AD4Q) (default ULXD4D, 2 channels)")
        parser.add_argument("--channels", type=int, help="channel count (default: the model's)")
        parser.add_argument("--talk", help="channels with someone talking, e.g. 1,2")
        parser.add_argument("--battery-hours", type=float, help=f"hours a full battery lasts (default {BATTERY_HOURS:g})")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, clock: Clock = time.monotonic) -> "ShureSimulator":
        given = {key: value for key, value in options.items() if key in OPTION_KEYS and value is not None}
        if isinstance(given.get("talk"), str):
            given["talk"] = [int(t) for t in given["talk"].split(",") if t.strip()]
        if isinstance(given.get("names"), Mapping):
            given["names"] = [given["names"][k] for k in sorted(given["names"])]
        return cls(clock=clock, **given)


OPTION_KEYS = frozenset({
    "host", "port", "model", "channels", "names", "frequencies", "device_id", "firmware", "battery_hours",
    "battery_charge", "transmitters", "talk", "rf_dbm",
})


def _rep(channel: int | None, param: str, value: str) -> bytes:
    middle = f"{channel} {param}" if channel is not None else param
    return f"< REP {middle} {value} >".encode("ascii")


def _name(name: str, *, strict: bool = False, width: int = 8) -> str:
    if strict and (len(name) > width or not set(name) <= NAME_CHARS):
        raise Refused()
    cleaned = "".join(c for c in name if c in NAME_CHARS)
    return cleaned[:width]
