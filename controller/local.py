"""A controller run inside one command (`roomctl selftest --config`, `roomctl playbook
run --config`): loaded, started for one room, stopped when the command is done."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

EXIT_CONFIG, EXIT_COULD_NOT_RUN = 2, 3


class CannotRun(Exception):
    """The command ends with ``code`` before it began; the reason was printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@contextlib.asynccontextmanager
async def local_controller(config_path: Path, room: str) -> AsyncIterator:
    from controller.app import Controller
    from controller.config import ConfigError, load_config

    try:
        config = load_config(config_path)
        config.room(room)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        raise CannotRun(EXIT_CONFIG) from None
    except KeyError:
        print(f"roomctl: no room {room!r} in {config_path}", file=sys.stderr)
        raise CannotRun(EXIT_CONFIG) from None
    controller = Controller(config, serve_api=False)
    try:
        await controller.start()
    except OSError as exc:
        print(f"roomctl: cannot start: {exc}", file=sys.stderr)
        await controller.stop()
        raise CannotRun(EXIT_COULD_NOT_RUN) from None
    try:
        yield controller
    finally:
        await controller.stop()
