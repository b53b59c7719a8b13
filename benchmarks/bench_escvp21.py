"""ESC/VP21 over RS-232: a `PWR?` round trip through the driver vs the wire time of its bytes.

The simulator runs as its own process on a pseudo-terminal and paces every byte at
9600 baud 8N1, as a real serial line would. The round trip can never beat the time
the 13 bytes spend on the wire (`PWR?\\r` out, `PWR=01\\r:` back); what is above it is
the driver's, the transport's and the simulator's own overhead.
Goal: mean round trip ≤ 1.1 × wire time.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._sim import simulator_process  # noqa: E402

BAUDRATE = 9600
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
REQUEST = b"PWR?\r"
REPLY = b"PWR=01\r:"
WIRE_TIME = (len(REQUEST) + len(REPLY)) * BITS_PER_BYTE / BAUDRATE
WARMUP_ROUNDS = 20  # first round trips open caches and settle the simulator's loop
ROUNDS = 400
GOAL_RATIO = 1.1
# Generous against a 14 ms exchange; only a broken setup comes near it.
REQUEST_TIMEOUT = 2.0


async def _measure(port: str) -> dict:
    from drivers.capabilities import Power
    from drivers.projector.escvp21 import EscVp21Projector
    from drivers.transports.serial import SerialTransport

    device = EscVp21Projector("bench", SerialTransport(port, baudrate=BAUDRATE), timeout=REQUEST_TIMEOUT)
    await device.connect()
    try:
        # Lamp on, so the reply is the spec's `PWR=01` of the wire-time figure.
        await device.set_power(True)
        await device.probe()
        if device.state["power"] is not Power.ON:
            raise RuntimeError(f"projector is {device.state['power']}, not on; start the simulator with --warmup 0")
        for _ in range(WARMUP_ROUNDS):
            await device.probe()
        round_trips = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            await device.probe()  # PWR?, parsed into the typed power state
            round_trips.append(time.perf_counter() - start)
    finally:
        await device.close()
    mean = statistics.mean(round_trips)
    return {
        "round_trips": ROUNDS,
        "mean_round_trip_ms": round(mean * 1e3, 3),
        "median_round_trip_ms": round(statistics.median(round_trips) * 1e3, 3),
        "p95_round_trip_ms": round(statistics.quantiles(round_trips, n=20)[-1] * 1e3, 3),
        "wire_time_ms": round(WIRE_TIME * 1e3, 3),
        "ratio": round(mean / WIRE_TIME, 3),
        "goal": f"ratio <= {GOAL_RATIO}",
    }


def main() -> dict:
    with simulator_process("escvp21", "--pty", "--warmup", "0", "--baudrate", str(BAUDRATE)) as port:
        return asyncio.run(_measure(port))


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
