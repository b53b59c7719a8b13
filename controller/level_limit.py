"""Taking a clipping channel down one bounded step: a mixer's fader, or a receiver's gain.

Never below the room's floor (``monitoring.fader_floor_db`` / ``gain_floor_db``), nor
below what the device accepts. Shared by monitoring (automatic limiting during the
meeting) and the clipping playbook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.capabilities import Command, HasFaders, HasGain, SetFader, SetGain
from drivers.capabilities.audio import MINUS_INFINITY

# Consoles store faders in steps (1024 on an X32: about 0.08 dB around -20 dB); a fader
# this close to the floor is at the floor.
AT_FLOOR_DB = 0.1


@dataclass(frozen=True)
class Reduction:
    command: Command
    what: str  # "fader" or "gain"
    before_db: float
    after_db: float
    floor_db: float


def next_reduction(device, channel: int, *, step_db: float, fader_floor_db: float,
                   gain_floor_db: float) -> Reduction | None:
    """The next step down for ``channel``; None when it is at its floor (or has no level we can move)."""
    if isinstance(device, HasFaders):
        current = device.state.get("faders", {}).get(channel)
        if current is None or current == MINUS_INFINITY:
            return None
        floor = max(fader_floor_db, device.fader_range()[0])
        if current <= floor + AT_FLOOR_DB:
            return None
        target = round(max(floor, current - step_db), 2)
        return Reduction(SetFader(channel=channel, db=target), "fader", current, target, floor)
    if isinstance(device, HasGain):
        current = device.state.get("gains", {}).get(channel)
        if current is None:
            return None
        limits = device.gain_range(channel)
        floor = max(gain_floor_db, limits.min_db)
        # On the device's own grid, rounded up so the floor is never crossed.
        steps = math.ceil((max(floor, current - step_db) - limits.min_db) / limits.step_db - 1e-9)
        target = limits.min_db + steps * limits.step_db
        if target >= current:
            return None
        return Reduction(SetGain(channel=channel, db=target), "gain", current, target, floor)
    return None
