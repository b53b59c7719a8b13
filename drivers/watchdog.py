"""One timer for a link's outstanding request, not one per request.

Polling does thousands of requests a minute and a fader move is a request: scheduling
and cancelling a timer for each showed in the benchmarks. The watchdog is armed with
each request's deadline and cleared when the request ends; its timer stays scheduled,
and when it fires with nothing due it simply stops. A deadline sooner than the timer's
moves the timer earlier; a later one is taken up when the timer fires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Watchdog:
    def __init__(self, on_expiry: Callable[[], None]) -> None:
        self._on_expiry = on_expiry
        self._deadline: float | None = None  # time.monotonic() of the outstanding request's deadline
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, deadline: float) -> None:
        """The outstanding request expires at ``deadline`` (a time.monotonic() value)."""
        self._deadline = deadline
        loop = asyncio.get_running_loop()
        at = loop.time() + max(0.0, deadline - time.monotonic())  # the loop's clock may not be monotonic()'s
        if self._timer is not None:
            if self._timer.when() <= at:
                return  # fires first, then waits on for this deadline
            self._timer.cancel()  # armed for a longer request: this one's deadline comes sooner
        self._timer = loop.call_at(at, self._fired)

    def clear(self) -> None:
        """The request ended: nothing is due (the timer, if any, finds that when it fires)."""
        self._deadline = None

    def cancel(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fired(self) -> None:
        self._timer = None
        if self._deadline is None:
            return  # nothing outstanding: stay disarmed until the next request
        if time.monotonic() < self._deadline:
            self.arm(self._deadline)  # armed for an earlier request: wait for this one's
            return
        self._deadline = None
        self._on_expiry()
