"""The one clock. Schedules, routines and simulators' physics read it; the demo and
tests may run it faster. Network timeouts are real time and do not use it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


class Clock:
    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._real_start = time.monotonic()
        self._wall_start = datetime.now(timezone.utc)

    def monotonic(self) -> float:
        """Simulated seconds since an arbitrary start; what physics and schedules measure."""
        return (time.monotonic() - self._real_start) * self.speed

    def now(self) -> datetime:
        """Simulated wall time (UTC)."""
        return self._wall_start + timedelta(seconds=self.monotonic())

    def real_seconds(self, simulated: float) -> float:
        return simulated / self.speed
