"""`roomctl serve`: cold start to the first HTTP 200, and resident memory when idle.

Goal: ≤ 1.5 s and ≤ 80 MB. The site served is the demo venue (its devices simulated
in the same process), so the figure includes driver and simulator start-up.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
IDLE_SETTLE = 3.0  # let polls and imports settle before reading RSS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_start() -> tuple[float, float]:
    port = _free_port()
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "controller.cli", "serve", str(ROOT / "configs" / "demo.yaml"),
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api/health"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("roomctl serve exited before answering")
                time.sleep(0.005)
            if time.perf_counter() - start > 30:
                raise RuntimeError("roomctl serve did not answer within 30 s")
        cold_start = time.perf_counter() - start
        time.sleep(IDLE_SETTLE)
        rss = psutil.Process(process.pid).memory_info().rss / 2**20
        return cold_start, rss
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> dict:
    results = [one_start() for _ in range(RUNS)]
    starts, rss = zip(*results)
    return {
        "cold_start_s": {"median": round(statistics.median(starts), 3), "max": round(max(starts), 3)},
        "idle_rss_mb": {"median": round(statistics.median(rss), 1), "max": round(max(rss), 1)},
        "goal": "cold start <= 1.5 s, idle RSS <= 80 MB",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
