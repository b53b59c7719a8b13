"""Shure digital wireless receivers over TCP 2202: ULX-D / QLX-D, SLX-D and Axient Digital.

``ShureReceiver`` on an injected stream transport: it reads the identity and every
channel at connect, asks for SAMPLE meters, keeps its state from the receiver's
unsolicited REPs and re-reads everything now and then in case one was missed. The
wire — grammar, values and one ``Family`` table per command set — is in
``drivers.audio.shure_codec``. The device reads its family's table; it never asks
which family it is talking to. The family comes from the receiver's MODEL reply, or
from the ``family`` option when the config names it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.audio.malformed import Malformed, MalformedLog
from drivers.audio.shure_codec import (
    DEVICE_PARSERS,
    FAMILIES,
    MAX_CHANNELS,
    MAX_METER_INTERVAL,
    MIN_METER_INTERVAL,
    ROLE_STATE,
    ULXD,
    Family,
    Read,
    Report,
    ReportError,
    Sample,
    ShureFramer,
    antenna_of,
    channels_of_model,
    encode_get,
    encode_set,
    family_of_model,
    gain_value,
    meter_rate_value,
    name_value,
    parse_frame,
)
from drivers.capabilities import (
    Antenna,
    Battery,
    BatteryType,
    GainRange,
    HasAudioLevels,
    HasBattery,
    HasChannelMute,
    HasGain,
    HasIdentity,
    HasRf,
    HasWirelessChannels,
    Identity,
    RfLink,
    RuntimeState,
    Transmitter,
    WirelessChannel,
)
from drivers.capabilities.audio import RF_DROPOUT_DBM, NameRule, is_clipping
from drivers.device import Device, TransportSpec
from drivers.errors import DeviceRejected, DeviceTimeout, ProtocolError, Unsupported
from drivers.link import Link

log = logging.getLogger(__name__)

PORT = 2202
# Shure's own example METER_RATE is 01000; the codec refuses anything faster (MIN_METER_INTERVAL).
DEFAULT_METER_INTERVAL = 1.0
# A full re-read of every parameter, in case an unsolicited REP was missed while the
# link was up. The receiver reports changes itself, so this can be rare.
RESYNC_INTERVAL = 60.0


class ShureOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family: Literal["auto", "ulxd", "slxd", "axient"] = Field(
        "auto", description="Command set: auto (from the receiver's MODEL), ulxd (ULX-D and QLX-D), slxd (SLX-D) "
                            "or axient (Axient Digital)",
    )
    metering: bool = Field(True, description="Ask for SAMPLE reports (RF and audio levels)")
    meter_interval: float = Field(
        DEFAULT_METER_INTERVAL, ge=MIN_METER_INTERVAL, le=MAX_METER_INTERVAL,
        description="Seconds between SAMPLE reports; Shure recommends seconds, not milliseconds",
    )
    channels: int | None = Field(None, ge=1, le=MAX_CHANNELS, description="Channel count, when MODEL is not reported")
    resync_interval: float = Field(RESYNC_INTERVAL, ge=1, le=3600, description="Seconds between full re-reads")


class ShureReceiver(Device, HasIdentity, HasWirelessChannels, HasBattery, HasRf, HasAudioLevels, HasGain,
                    HasChannelMute):
    driver: ClassVar[str] = "shure"
    transport_spec: ClassVar[TransportSpec] = TransportSpec("tcp", default_port=PORT)
    Options: ClassVar[type[BaseModel]] = ShureOptions
    options: ShureOptions

    def __init__(self, device_id, transport, *, options=None, timeout: float = 2.0) -> None:
        super().__init__(device_id, transport, options=options, timeout=timeout)
        # Until MODEL says otherwise: ULX-D and QLX-D firmware answer MODEL with REP ERR.
        self.family: Family = FAMILIES.get(self.options.family, ULXD)
        self.link = Link(transport, ShureFramer(), on_unsolicited=self._on_unsolicited, name=device_id)
        self.malformed = MalformedLog(log, device_id)
        self._channels: tuple[int, ...] = ()
        self._values: dict[int, dict[str, Any]] = {}   # channel -> role -> typed value; 0: device parameters
        self._unsupported: set[tuple[int, str]] = set()  # (channel, param) answered REP ERR
        self._last_resync = 0.0
        self.samples_received = 0

    # --- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        await self.link.open()
        await self._read_identity()
        for channel in self._channels:
            await self._read_channel(channel, self.family.full_read)
        self._last_resync = time.monotonic()
        if self.options.metering:
            rate = meter_rate_value(self.options.meter_interval, self.family.meter_rate_max_ms)
            for channel in self._channels:
                await self._request(encode_set("METER_RATE", rate, channel), channel, "METER_RATE")

    async def close(self) -> None:
        if self.link.is_open and self.options.metering:
            # A receiver left metering into a dead socket keeps working for nobody.
            for channel in self._channels:
                try:
                    await self.link.send(encode_set("METER_RATE", "00000", channel))
                except Exception:  # the link is going away anyway
                    break
        await self.link.close()

    async def _read_identity(self) -> None:
        model = await self._get_or_none("MODEL")
        if self.options.family == "auto":
            self.family = family_of_model(model) or ULXD
        fields = {
            "manufacturer": "Shure",
            "model": model,
            "name": await self._get_or_none("DEVICE_ID"),
            "firmware": await self._get_or_none("FW_VER"),
            "protocol": f"Shure command strings ({self.family.label})",
        }
        self._set("identity", Identity(**{k: v or None for k, v in fields.items()}))
        count = self.options.channels or (channels_of_model(model) if model else None)
        self._channels = tuple(range(1, count + 1)) if count else await self._discover_channels()
        for channel in self._channels:
            self._values.setdefault(channel, {})

    async def _discover_channels(self) -> tuple[int, ...]:
        """No MODEL (ULX-D, QLX-D): channels are those whose name can be read."""
        found = [1]
        for channel in range(2, MAX_CHANNELS + 1):
            try:
                await self._request(encode_get("CHAN_NAME", channel), channel, "CHAN_NAME")
            except (DeviceRejected, DeviceTimeout):
                break
            found.append(channel)
        return tuple(found)

    # --- requests ------------------------------------------------------------------------

    async def _request(self, wire: bytes, channel: int | None, param: str) -> Any:
        """Send a GET or SET; the REP for (channel, param) answers it, REP ERR refuses it."""

        def answer(frame: bytes) -> Any:
            try:
                message = parse_frame(frame, self.family)
            except ProtocolError:
                return None  # not the answer; on_unsolicited counts it
            if isinstance(message, ReportError):
                raise DeviceRejected(param if channel is None else f"{channel} {param}", "ERR")
            if isinstance(message, Report) and message.param == param and message.channel == channel:
                return message
            return None

        report = await self.link.request(wire, timeout=self.timeout, parse=answer, what=wire.decode())
        self._apply(report)
        return report

    async def _get_or_none(self, param: str) -> str | None:
        try:
            await self._request(encode_get(param), None, param)
        except DeviceRejected:
            return None
        return self._device_values.get(param)

    async def _read_channel(self, channel: int, reads: tuple[Read, ...]) -> None:
        for read in reads:
            if (channel, read.param) in self._unsupported:
                continue
            try:
                await self._request(encode_get(read.param, channel, read.argument), channel, read.param)
            except DeviceRejected:
                # Not on this model (QLX-D has no AUDIO_MUTE): stop asking for it.
                self._unsupported.add((channel, read.param))
                if (role := self._role(read.param)) in ROLE_STATE:
                    self._publish(channel, ROLE_STATE[role])

    def _role(self, param: str) -> str | None:
        entry = self.family.channel_params.get(param)
        return entry[0] if entry else None

    # --- polling -----------------------------------------------------------------------------

    async def probe(self) -> None:
        await self._request(encode_get("DEVICE_ID"), None, "DEVICE_ID")

    async def poll(self) -> None:
        if time.monotonic() - self._last_resync >= self.options.resync_interval:
            for channel in self._channels:
                await self._read_channel(channel, self.family.full_read)
            self._last_resync = time.monotonic()
        elif not self.options.metering:
            for channel in self._channels:
                await self._read_channel(channel, self.family.metered_read)
        elif self.family.metering_poll:
            for channel in self._channels:
                await self._read_channel(channel, self.family.metering_poll)
        else:
            await self.probe()

    # --- state from reports --------------------------------------------------------------------

    @property
    def _device_values(self) -> dict[str, Any]:
        return self._values.setdefault(0, {})

    def _on_unsolicited(self, frame: bytes) -> None:
        try:
            message = parse_frame(frame, self.family)
            if isinstance(message, ReportError):
                raise Malformed("unexpected error report", "REP ERR with no command outstanding", frame)
            self._apply(message)
        except ProtocolError as exc:
            self.malformed.note(exc)

    def _apply(self, message: Report | Sample) -> None:
        if isinstance(message, Sample):
            self._apply_sample(message)
            return
        if message.channel is None:
            parser = DEVICE_PARSERS.get(message.param)
            if parser is not None:
                self._device_values[message.param] = parser(message.value)
                self._publish_identity()
            return
        entry = self.family.channel_params.get(message.param)
        values = self._values.get(message.channel) if message.channel else None
        if entry is None or values is None:
            return  # a parameter this driver does not use, or a channel it does not know yet
        role, parse = entry
        value = parse(message.value)
        if role == "rssi":
            self._apply_rssi(values, *value)
        else:
            values[role] = value
        if role in ROLE_STATE:
            self._publish(message.channel, ROLE_STATE[role])

    def _apply_rssi(self, values: dict[str, Any], antenna: int | None, dbm: int) -> None:
        if antenna is None:  # one combined reading
            values["rf_level"] = dbm
            return
        levels = values.setdefault("rssi_by_antenna", {})
        levels[antenna] = dbm
        values["rf_level"] = max(levels.values())
        if self.family.antenna_from_rssi:
            # An antenna below the dropout level is not carrying the link.
            values["antenna"] = antenna_of({a for a, level in levels.items() if level > RF_DROPOUT_DBM})

    def _apply_sample(self, sample: Sample) -> None:
        values = self._values.get(sample.channel)
        if values is None:
            return
        self.samples_received += 1
        values["rf_level"] = sample.rf_dbm
        values["audio_level"] = sample.audio_dbfs
        if sample.peak_dbfs is not None:
            values["audio_peak"] = sample.peak_dbfs
        if sample.antenna is not None:
            values["antenna"] = sample.antenna
        elif sample.rf_dbm <= RF_DROPOUT_DBM:
            # The layout has no antenna field (SLX-D), but with the best RF below dropout
            # no antenna carries the link.
            values["antenna"] = Antenna.NONE
        elif values.get("antenna", Antenna.NONE) is Antenna.NONE:
            # The link is back: which antennas carry it comes from the next poll's RSSI.
            self.request_attention()
        self._publish(sample.channel, "rf")
        self._publish(sample.channel, "levels")

    def _publish_identity(self) -> None:
        identity = self.state.get("identity")
        if identity is None:
            return
        values = self._device_values
        self._set("identity", identity.model_copy(update={
            "model": values.get("MODEL") or identity.model,
            "name": values.get("DEVICE_ID") or identity.name,
            "firmware": values.get("FW_VER") or identity.firmware,
        }))

    def _publish(self, channel: int, key: str) -> None:
        v = self._values[channel]
        if key == "channels":
            value = WirelessChannel(name=v.get("name", ""), frequency_khz=v.get("frequency"))
        elif key == "transmitters":
            value = v.get("transmitter", Transmitter())
        elif key == "batteries":
            value = Battery(bars=v.get("battery_bars", "unknown"), percent=v.get("battery_percent", "unknown"),
                            minutes_left=v.get("battery_minutes", RuntimeState.UNKNOWN),
                            type=v.get("battery_type", BatteryType.UNKNOWN))
        elif key == "rf":
            value = RfLink(antenna=v.get("antenna", Antenna.NONE), level_dbm=v.get("rf_level"),
                           interference=v.get("interference", False))
        elif key == "levels":
            level = v.get("audio_level")
            if level is not None:
                # A clip is a peak at full scale; families that meter one level clip on it.
                self._set_channel("clipping", channel, is_clipping(v.get("audio_peak", level)))
            value = level
        elif key == "gains":
            value = v.get("gain")
        elif key == "mutes":
            if channel not in self.mutable_channels():
                return
            value = v.get("mute")
        else:
            return
        if value is not None:
            self._set_channel(key, channel, value)

    def _set_channel(self, key: str, channel: int, value: Any) -> None:
        current = self.state.get(key, {})
        if current.get(channel) == value and channel in current:
            return
        self._set(key, {**current, channel: value})

    def fault_reason(self) -> str | None:
        problems = []
        transmitters, batteries, rf = (self.state.get(k, {}) for k in ("transmitters", "batteries", "rf"))
        for channel in self._channels:
            link = rf.get(channel)
            if link is not None and link.interference:
                problems.append(f"channel {channel}: RF interference")
            if not transmitters.get(channel, Transmitter()).present:
                continue  # a transmitter switched off is not a receiver fault
            if (battery := batteries.get(channel)) is not None and battery.is_flat:
                problems.append(f"channel {channel}: battery flat")
            if link is not None and (link.antenna is Antenna.NONE or (link.level_dbm or 0) < RF_DROPOUT_DBM):
                problems.append(f"channel {channel}: RF lost")
        return "; ".join(problems) or None

    # --- capabilities --------------------------------------------------------------------------

    def channel_numbers(self) -> tuple[int, ...]:
        return self._channels

    def mutable_channels(self) -> tuple[int, ...]:
        mute = self.family.mute_param
        if mute is None:
            return ()
        return tuple(c for c in self._channels if (c, mute) not in self._unsupported)

    def gain_range(self, channel: int) -> GainRange:
        return self.family.gain

    def channel_name_rule(self, channel: int) -> NameRule:
        return self.family.name_rule

    async def set_gain(self, channel: int, db: float) -> None:
        await self._request(encode_set("AUDIO_GAIN", gain_value(db), channel), channel, "AUDIO_GAIN")

    async def set_channel_mute(self, channel: int, muted: bool) -> None:
        mute = self.family.mute_param
        if mute is None or channel not in self.mutable_channels():
            raise Unsupported(f"{self.family.label} channel {channel} has no mute", field="channel")
        await self._request(encode_set(mute, "ON" if muted else "OFF", channel), channel, mute)

    async def set_channel_name(self, channel: int, name: str) -> None:
        value = name_value(name, self.family.name_rule)
        await self._request(encode_set("CHAN_NAME", value, channel), channel, "CHAN_NAME")
