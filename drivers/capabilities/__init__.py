"""Capabilities, their typed state and their commands. Import from here."""

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
    "AVMute", "Capability", "Command", "ErrorStatus", "HasAVMute", "HasErrorStatus", "HasFilter", "HasFreeze",
    "HasIdentity", "HasInputs", "HasLamps", "HasPower", "Identity", "InputName", "Lamp", "Level", "Power",
    "SelectInput", "SetAVMute", "SetFreeze", "SetPower", "StateModel", "capabilities", "capability_names", "commands",
]
