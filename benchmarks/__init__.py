"""Benchmarks: roomctl side by side with its peers, reported as ratios (benchmarks/run.py runs them all)."""

# roomctl is measured on the loop it runs on (controller/loop.py); its peers share it.
from controller.loop import install as _install_loop

LOOP = _install_loop()
