"""Start a simulator as its own process, as the benchmarks' device under test."""

from __future__ import annotations

import contextlib
import subprocess
import sys


@contextlib.contextmanager
def simulator_process(*args: str):
    """Yield the `listening` address of `roomctl sim ARGS` running in a child process."""
    process = subprocess.Popen([sys.executable, "-m", "controller.cli", "sim", *args],
                               stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"simulator did not start: {line!r}")
        yield line.split(maxsplit=1)[1].strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
