"""Capabilities, their typed state and their commands. Import from here."""

from drivers.capabilities.audio import (
    Antenna,
    AudioChannels,
    Battery,
    BatteryType,
    GainRange,
    HasAudioLevels,
    HasBattery,
    HasChannelMute,
    HasFaders,
    HasGain,
    HasPhantom,
    HasRf,
    HasScenes,
    HasWirelessChannels,
    RecallScene,
    RfLink,
    RuntimeState,
    SetChannelMute,
    SetFader,
    SetGain,
    SetPhantom,
    Transmitter,
    WirelessChannel,
)
from drivers.capabilities.av import (
    AVMute,
    HasAVMute,
    HasFilter,
    HasFreeze,
    HasInputs,
    HasLamps,
    InputName,
    Lamp,
    SelectInput,
    SetAVMute,
    SetFreeze,
)
from drivers.capabilities.climate import (
    Alarm,
    FanSpeed,
    HasAlarms,
    HasFanSpeed,
    HasHvacMode,
    HasSetpoint,
    HasTemperature,
    HvacAction,
    HvacMode,
    SetFanSpeed,
    SetHvacMode,
    SetpointRange,
    SetSetpoint,
)
from drivers.capabilities.lighting import HasBrightness, HasColorTemperature, SetBrightness, SetColorTemperature
from drivers.capabilities.base import (
    Capability,
    Command,
    ErrorStatus,
    HasErrorStatus,
    HasIdentity,
    HasPower,
    Identity,
    Level,
    Power,
    SetPower,
    StateModel,
    capabilities,
    capability_names,
    commands,
)

__all__ = [
    "Antenna", "AudioChannels", "Battery", "BatteryType", "GainRange", "HasAudioLevels", "HasBattery",
    "HasChannelMute", "HasFaders", "HasGain", "HasPhantom", "HasRf", "HasScenes", "HasWirelessChannels",
    "RecallScene", "RfLink", "RuntimeState", "SetChannelMute", "SetFader", "SetGain", "SetPhantom", "Transmitter",
    "WirelessChannel",
    "AVMute", "Capability", "Command", "ErrorStatus", "HasAVMute", "HasErrorStatus", "HasFilter", "HasFreeze",
    "HasIdentity", "HasInputs", "HasLamps", "HasPower", "Identity", "InputName", "Lamp", "Level", "Power",
    "SelectInput", "SetAVMute", "SetFreeze", "SetPower", "StateModel", "capabilities", "capability_names", "commands",
]
__all__ += [
    "Alarm", "FanSpeed", "HasAlarms", "HasBrightness", "HasColorTemperature", "HasFanSpeed", "HasHvacMode",
    "HasSetpoint", "HasTemperature", "HvacAction", "HvacMode", "SetBrightness", "SetColorTemperature",
    "SetFanSpeed", "SetHvacMode", "SetSetpoint", "SetpointRange",
]

from drivers.capabilities.health import Health, HasHealth  # noqa: E402

__all__ += ["Health", "HasHealth"]
