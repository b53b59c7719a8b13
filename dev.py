#!/usr/bin/env python3
"""Set up the project's virtual environment when needed, then run a job in it.

    python3 dev.py demo        # the demo venue on simulators (roomctl demo)
    python3 dev.py test [ARGS] # the test suite (pytest ARGS)
    python3 dev.py bench       # the benchmarks, side by side with their peers
    python3 dev.py roomctl ... # any roomctl command

Needs only Python 3.11+. The environment lives in .venv and is rebuilt when
pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".roomctl-installed"


def ensure_environment(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"roomctl needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"installing roomctl[{extras}] into .venv ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[{extras}]"], check=True)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    job, args = (argv[0], argv[1:]) if argv else ("demo", [])
    ensure_environment("test,bench")
    if job == "demo":
        command = [str(BIN / "roomctl"), "demo", *args]
    elif job == "test":
        command = [str(PYTHON), "-m", "pytest", *args]
    elif job == "bench":
        command = [str(PYTHON), str(ROOT / "benchmarks" / "run.py"), *args]
    elif job == "roomctl":
        command = [str(BIN / "roomctl"), *args]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
