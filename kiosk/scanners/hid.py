"""A USB keyboard-wedge scanner, read through evdev.

Found by its stable name under ``/dev/input/by-id/`` (``usb-Honeywell_…-event-kbd``),
opened and grabbed — so its keystrokes reach this reader only and never type into
whatever window has the focus. Unplugging makes reads fail with ENODEV: the device is
dropped and looked for again until it is plugged back.

python-evdev is imported only when a real device is opened (the ``hid`` extra); the
opener is injectable, which is how tests give the reader a recorded device.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.scanners import CodeReceiver, ScannerStatus, strip_symbology
from kiosk.scanners.keymap import KeyDecoder

log = logging.getLogger(__name__)

BY_ID = Path("/dev/input/by-id")
# How often an unplugged scanner is looked for: a person re-plugging takes seconds anyway.
REDISCOVER_INTERVAL = 0.5


def open_evdev(path: str) -> Any:
    import evdev  # the `hid` extra: only kiosks with a USB scanner need it

    return evdev.InputDevice(path)


class HidScanner:
    def __init__(self, scanner_id: str, name: str, on_code: CodeReceiver, *, by_id: Path = BY_ID,
                 opener: Callable[[str], Any] = open_evdev, decoder: KeyDecoder | None = None,
                 rediscover_interval: float = REDISCOVER_INTERVAL) -> None:
        self.id = scanner_id
        self.path = by_id / name
        self.on_code = on_code
        self.opener = opener
        self.decoder_factory = (lambda: decoder) if decoder else KeyDecoder
        self.rediscover_interval = rediscover_interval
        self.status = ScannerStatus.CONNECTING
        self.reason: str | None = None
        self.connects = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"scanner {self.id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            device = await self._find()
            decoder = self.decoder_factory()
            try:
                device.grab()
                self.connects += 1
                self._set(ScannerStatus.ONLINE, None)
                async for event in device.async_read_loop():
                    for text in decoder.feed(event.type, event.code, event.value):
                        self.on_code(strip_symbology(text), self.id)
            except OSError as exc:
                # ENODEV: unplugged. Anything else (EIO, a permission change) is handled the same way.
                self._set(ScannerStatus.OFFLINE, "unplugged" if exc.errno == errno.ENODEV else repr(exc))
            finally:
                with contextlib.suppress(Exception):
                    device.ungrab()
                with contextlib.suppress(Exception):
                    device.close()
            self._set(ScannerStatus.OFFLINE, self.reason or "device closed")

    async def _find(self) -> Any:
        while True:
            if self.path.exists():
                try:
                    return self.opener(str(self.path))
                except OSError as exc:
                    self._set(ScannerStatus.OFFLINE, f"cannot open {self.path}: {exc.strerror or exc}")
            elif self.status is not ScannerStatus.OFFLINE:
                self._set(ScannerStatus.OFFLINE, f"{self.path} not present")
            await asyncio.sleep(self.rediscover_interval)

    def _set(self, status: ScannerStatus, reason: str | None) -> None:
        if (status, reason) != (self.status, self.reason):
            log.info("scanner %s: %s%s", self.id, status, f" ({reason})" if reason else "")
        self.status, self.reason = status, reason
