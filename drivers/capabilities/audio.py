"""Audio: wireless channels and their transmitters, batteries, RF, levels, gain, mutes,
faders, scenes and phantom power.

Audio devices carry many channels, so every state here is keyed by channel number
(``{1: ..., 2: ...}``); a mixer's main bus is the key ``"main"``. Values a device
cannot know yet are named states — ``"unknown"``, ``"calculating"`` — never numbers
that look like measurements (a runtime of 65535 minutes is not 45 days of battery).

Units live here once: levels in dBFS, RF in dBm, gains and faders in dB, frequencies
in kHz. Drivers convert device encodings to these at their codec; nothing above a
driver converts again.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field

from drivers.capabilities.base import Capability, Command, StateModel
from drivers.errors import InvalidCommand, Unsupported

MAX_CHANNEL = 64
ChannelNumber = Annotated[int, Field(ge=1, le=MAX_CHANNEL)]
# A mixer's main stereo bus is addressed as "main" next to its numbered channels.
ChannelRef = Union[ChannelNumber, Literal["main"]]

Unknown = Literal["unknown"]
# Fader fully down: no finite number of dB.
MINUS_INFINITY = "-inf"
FaderDb = Union[float, Literal["-inf"]]

# A level at or above full scale is a clip: the converter has run out of bits.
CLIP_DBFS = 0.0
# Below this a receiver no longer holds its link (squelch is around -95 dBm on UHF
# digital receivers); a transmitter still reported there is about to drop out.
RF_DROPOUT_DBM = -95


def is_clipping(level_dbfs: float) -> bool:
    return level_dbfs >= CLIP_DBFS


# --- typed state -----------------------------------------------------------------------


class BatteryType(StrEnum):
    ALKALINE = "alkaline"
    LITHIUM_ION = "lithium_ion"    # Shure rechargeable (SB900 and the like)
    LITHIUM = "lithium"            # primary lithium cells
    NIMH = "nimh"
    WARNING = "warning"            # the transmitter flags its battery as faulty
    UNKNOWN = "unknown"


class RuntimeState(StrEnum):
    """Why a transmitter gives no battery runtime in minutes."""

    UNKNOWN = "unknown"            # no transmitter, or it does not say
    CALCULATING = "calculating"    # just switched on; the estimate is not ready
    COMM_ERROR = "comm_error"      # the battery does not talk to the transmitter


class Battery(StateModel):
    bars: int | Unknown = "unknown"                    # 0-5
    percent: int | Unknown = "unknown"                 # 0-100
    minutes_left: int | RuntimeState = RuntimeState.UNKNOWN
    type: BatteryType = BatteryType.UNKNOWN

    @property
    def is_flat(self) -> bool:
        """Known to be empty: no bars, or no minutes left."""
        return self.bars == 0 or self.minutes_left == 0


class Transmitter(StateModel):
    present: bool = False
    model: str | None = None       # e.g. "ULXD2"


class Antenna(StrEnum):
    A = "a"
    B = "b"
    BOTH = "both"
    NONE = "none"


class RfLink(StateModel):
    antenna: Antenna = Antenna.NONE
    level_dbm: int | None = None
    interference: bool = False


class WirelessChannel(StateModel):
    name: str = ""
    frequency_khz: int | None = None


@dataclass(frozen=True)
class GainRange:
    min_db: float
    max_db: float
    step_db: float


@dataclass(frozen=True)
class NameRule:
    """What a device takes as a channel name: how long, and which characters."""

    max_length: int
    characters: frozenset[str]

    def check(self, name: str) -> str:
        """The name as it will be sent (outer spaces dropped: devices pad names with spaces),
        or InvalidCommand on field "name" saying what is wrong with it."""
        name = name.strip()
        if not name:
            raise InvalidCommand("a channel name needs at least one character", field="name")
        if len(name) > self.max_length:
            raise InvalidCommand(f"channel name {name!r} is longer than {self.max_length} characters", field="name")
        refused = sorted(set(name) - self.characters)
        if refused:
            raise InvalidCommand(f"channel name {name!r} has characters this device refuses: "
                                 f"{' '.join(map(repr, refused))}", field="name")
        return name


# --- capabilities -------------------------------------------------------------------------


class AudioChannels(Capability):
    """Base of the per-channel audio capabilities: which channels a command may name."""

    @abstractmethod
    def channel_numbers(self) -> tuple[int, ...]:
        """The device's numbered channels; empty until the device has told us."""


class HasWirelessChannels(AudioChannels):
    """Wireless receiver channels: name, frequency, and the transmitter on each."""

    name = "wireless"
    state_keys = ("channels", "transmitters")

    def channel_name_rule(self, channel: int) -> NameRule | None:
        """What ``set_channel_name`` takes on this channel; None when names cannot be set."""
        return None

    async def set_channel_name(self, channel: int, name: str) -> None:
        raise Unsupported("this device's channel names cannot be set", field="type")


class HasBattery(AudioChannels):
    name = "battery"
    state_keys = ("batteries",)


class HasRf(AudioChannels):
    name = "rf"
    state_keys = ("rf",)


class HasAudioLevels(AudioChannels):
    """Audio level per channel in dBFS, and which channels clip."""

    name = "audio_levels"
    state_keys = ("levels", "clipping")


class HasGain(AudioChannels):
    name = "gain"
    state_keys = ("gains",)

    @abstractmethod
    def gain_range(self, channel: int) -> GainRange: ...

    @abstractmethod
    async def set_gain(self, channel: int, db: float) -> None: ...


class HasChannelMute(AudioChannels):
    name = "channel_mute"
    state_keys = ("mutes",)

    def mutable_channels(self) -> tuple[int | str, ...]:
        """Channels that can be muted; a model without a mute leaves its channels out."""
        return self.channel_numbers()

    @abstractmethod
    async def set_channel_mute(self, channel: int | str, muted: bool) -> None: ...


class HasFaders(AudioChannels):
    """Fader per channel and the main bus, in dB (``"-inf"`` when fully down)."""

    name = "faders"
    state_keys = ("faders", "channel_names")

    @abstractmethod
    def fader_range(self) -> tuple[float, float]:
        """Lowest and highest finite fader setting in dB."""

    @abstractmethod
    async def set_fader(self, channel: int | str, db: FaderDb) -> None: ...


class HasScenes(Capability):
    """Scenes or snapshots stored in the device, recalled by number."""

    name = "scenes"
    state_keys = ("scene",)

    @abstractmethod
    def scene_numbers(self) -> range: ...

    @abstractmethod
    async def recall_scene(self, number: int) -> None: ...


class HasPhantom(AudioChannels):
    """+48 V phantom power on the input feeding a channel."""

    name = "phantom"
    state_keys = ("phantom",)

    @abstractmethod
    async def set_phantom(self, channel: int, on: bool) -> None: ...


# --- commands ---------------------------------------------------------------------------


def _known_channel(device: AudioChannels, channel: int | str, *, extra: tuple = ()) -> None:
    known = tuple(device.channel_numbers()) + extra
    if known and channel not in known:
        raise InvalidCommand(f"no channel {channel!r}; this device has {', '.join(map(str, known))}", field="channel")


class SetGain(Command):
    type: Literal["gain"] = "gain"
    channel: ChannelNumber
    db: float = Field(ge=-120, le=120)
    capability: ClassVar = HasGain

    def check(self, device: object) -> None:
        super().check(device)
        _known_channel(device, self.channel)
        limits = device.gain_range(self.channel)
        if not limits.min_db <= self.db <= limits.max_db:
            raise InvalidCommand(f"gain {self.db:g} dB is outside {limits.min_db:g}…{limits.max_db:g} dB", field="db")
        steps = (self.db - limits.min_db) / limits.step_db
        if abs(steps - round(steps)) > 1e-6:
            raise InvalidCommand(f"gain moves in {limits.step_db:g} dB steps", field="db")

    async def apply(self, device: HasGain) -> None:
        await device.set_gain(self.channel, self.db)


class SetChannelMute(Command):
    type: Literal["channel_mute"] = "channel_mute"
    channel: ChannelRef
    muted: bool
    capability: ClassVar = HasChannelMute

    def check(self, device: object) -> None:
        super().check(device)
        _known_channel(device, self.channel, extra=("main",) if isinstance(device, HasFaders) else ())
        if self.channel not in device.mutable_channels():
            raise Unsupported(f"channel {self.channel} of this device has no mute", field="channel")

    async def apply(self, device: HasChannelMute) -> None:
        await device.set_channel_mute(self.channel, self.muted)


class SetChannelName(Command):
    """Name a wireless channel (what the receiver's display and Wireless Workbench show)."""

    type: Literal["channel_name"] = "channel_name"
    channel: ChannelNumber
    name: str = Field(min_length=1, max_length=64)
    capability: ClassVar = HasWirelessChannels

    def check(self, device: object) -> None:
        super().check(device)
        _known_channel(device, self.channel)
        rule = device.channel_name_rule(self.channel)
        if rule is None:
            raise Unsupported(f"channel {self.channel}'s name cannot be set on this device", field="channel")
        rule.check(self.name)

    async def apply(self, device: HasWirelessChannels) -> None:
        await device.set_channel_name(self.channel, self.name.strip())


class SetFader(Command):
    type: Literal["fader"] = "fader"
    channel: ChannelRef
    db: FaderDb
    capability: ClassVar = HasFaders

    def check(self, device: object) -> None:
        super().check(device)
        _known_channel(device, self.channel, extra=("main",))
        if self.db != MINUS_INFINITY:
            low, high = device.fader_range()
            if not low <= self.db <= high:
                raise InvalidCommand(f"fader {self.db:g} dB is outside {low:g}…{high:g} dB (or \"-inf\")", field="db")

    async def apply(self, device: HasFaders) -> None:
        await device.set_fader(self.channel, self.db)


class RecallScene(Command):
    type: Literal["scene"] = "scene"
    scene: int = Field(ge=0, le=999)
    capability: ClassVar = HasScenes

    def check(self, device: object) -> None:
        super().check(device)
        numbers = device.scene_numbers()
        if self.scene not in numbers:
            raise InvalidCommand(f"scene {self.scene} is outside {numbers.start}…{numbers.stop - 1}", field="scene")

    async def apply(self, device: HasScenes) -> None:
        await device.recall_scene(self.scene)


class SetPhantom(Command):
    type: Literal["phantom"] = "phantom"
    channel: ChannelNumber
    on: bool
    capability: ClassVar = HasPhantom

    def check(self, device: object) -> None:
        super().check(device)
        _known_channel(device, self.channel)

    async def apply(self, device: HasPhantom) -> None:
        await device.set_phantom(self.channel, self.on)
