"""Run every benchmark and print its figures (ratios against peers where there is one)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHMARKS = ["bench_pjlink", "bench_escvp21", "bench_serve", "bench_mqtt_lights", "bench_shure", "bench_xair",
              "bench_scene", "bench_selftest", "bench_checkin", "bench_checkin_fleet", "bench_checkin_browser",
              "bench_tablet"]


def main(names: list[str]) -> int:
    for name in names or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
        print(json.dumps(module.main(), indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
