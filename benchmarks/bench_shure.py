"""Wireless receivers: 4 receivers × 4 channels metering at Shure's recommended rate.

Four ULXD4Q simulators run as their own processes (`roomctl sim shure`), each with a
talker on every channel; roomctl's site runtime (drivers, supervisors, event bus)
holds all four with SAMPLE metering at 1 s, the floor the driver allows. Reported:

- controller CPU per SAMPLE: the controller process's CPU time over a window, divided
  by the SAMPLE reports that reached the drivers in it (everything included: parsing,
  typed state, the bus event per change, supervision);
- state latency from REP to the event bus: another client (Wireless Workbench, the
  front panel) changes a channel's gain; the receiver reports the change unasked; the
  time from that change to the ``state`` event on roomctl's bus, p50/p99/max — beside
  the floor, a bare socket on the same receiver that only waits for the REP bytes.
Goal: p99 ≤ 5 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._sim import simulator_process  # noqa: E402

RECEIVERS = 4
CHANNELS = 4
CPU_WINDOW = 12.0          # seconds of metering measured (each channel samples once a second)
CHANGES = 400              # gain changes timed for the latency figures
EVENT_TIMEOUT = 2.0
GOAL_P99_MS = 5.0


def _config(addresses: list[str], store: str):
    from controller.config import parse_config

    devices = "\n".join(
        f"""      - id: rx{i}
        driver: shure
        host: {address.rsplit(':', 1)[0]}
        port: {address.rsplit(':', 1)[1]}
        options: {{meter_interval: 1.0}}"""
        for i, address in enumerate(addresses, 1)
    )
    return parse_config(f"site: bench\nstore: '{store}'\nrooms:\n  - id: hall\n    devices:\n{devices}\n")


async def _measure(addresses: list[str]) -> dict:
    from controller.clock import Clock
    from controller.events import EventBus
    from controller.site import Site
    from drivers.status import Status

    clock = Clock()
    bus = EventBus(clock)
    site = Site(_config(addresses, ":memory:"), clock=clock, bus=bus)
    await site.start()
    try:
        deadline = time.monotonic() + 10
        while any(d.supervisor.status is not Status.ONLINE for d in site.devices()):
            if time.monotonic() > deadline:
                raise RuntimeError("receivers did not come online")
            await asyncio.sleep(0.05)
        receivers = [d.device for d in site.devices()]

        # --- CPU per sample --------------------------------------------------------------
        await asyncio.sleep(1.5)  # metering settles into its rhythm
        samples_before = sum(r.samples_received for r in receivers)
        cpu_before, wall_before = time.process_time(), time.monotonic()
        await asyncio.sleep(CPU_WINDOW)
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        samples = sum(r.samples_received for r in receivers) - samples_before

        # --- REP -> bus latency, beside a bare socket's -------------------------------------
        latencies, floors = [], []
        clients, floor_readers = [], []
        for address in addresses:
            host, port = address.rsplit(":", 1)
            clients.append(await asyncio.open_connection(host, int(port)))   # the one who changes things
            floor_readers.append(await asyncio.open_connection(host, int(port)))  # the floor: only reads
        for floor_reader, _ in floor_readers:
            # Connected is not yet heard: the receiver tells a connection of changes once it has
            # taken it in, which its meter lines (sent to every connection) show.
            await asyncio.wait_for(_read_until(floor_reader, b"< SAMPLE"), EVENT_TIMEOUT)
        with bus.subscribe(limit=10_000) as events:
            for n in range(CHANGES):
                r, channel = n % RECEIVERS, (n // RECEIVERS) % CHANNELS + 1
                value = 18 + 1 + (n % 20)   # a new gain each time (+1…+20 dB)
                expected = value - 18
                device_id = f"rx{r + 1}"
                reader, writer = clients[r]
                floor_reader = floor_readers[r][0]
                marker = f"< REP {channel} AUDIO_GAIN {value:03d} >".encode()
                start = time.perf_counter()
                writer.write(f"< SET {channel} AUDIO_GAIN {value:03d} >".encode())
                floor_task = asyncio.ensure_future(_read_until(floor_reader, marker))
                deadline = time.monotonic() + EVENT_TIMEOUT
                while True:  # metering events stream past; wait for this change's
                    event = await asyncio.wait_for(events.get(), max(0.0, deadline - time.monotonic()))
                    gains = event.data.get("gains") if event.kind == "state" and event.device == device_id else None
                    if gains and gains.get(str(channel)) == expected:  # JSON state: channel keys are strings
                        break
                latencies.append(time.perf_counter() - start)
                floors.append(await asyncio.wait_for(floor_task, EVENT_TIMEOUT) - start)
                await _read_until(reader, b"AUDIO_GAIN")  # the changer's own answer
        for reader, writer in clients + floor_readers:
            writer.close()
    finally:
        await site.stop()

    def ms(values, q):
        return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 3)

    p99 = ms(latencies, 99)
    return {
        "receivers_x_channels": f"{RECEIVERS}x{CHANNELS}",
        "meter_interval_s": 1.0,
        "samples_per_s": round(samples / wall, 1),
        "controller_cpu_per_sample_us": round(cpu / samples * 1e6, 1) if samples else None,
        "controller_cpu_share_percent": round(cpu / wall * 100, 2),
        "rep_to_bus_ms": {"p50": ms(latencies, 50), "p99": p99, "max": round(max(latencies) * 1000, 3)},
        "floor_bare_socket_ms": {"p50": ms(floors, 50), "p99": ms(floors, 99), "max": round(max(floors) * 1000, 3)},
        "roomctl_vs_floor_p50": round(statistics.median(latencies) / statistics.median(floors), 2),
        "p99_vs_goal": round(p99 / GOAL_P99_MS, 2),
        "goal": f"rep_to_bus p99 <= {GOAL_P99_MS:g} ms",
        "met": p99 <= GOAL_P99_MS,
    }


async def _read_until(reader: asyncio.StreamReader, marker: bytes) -> float:
    seen = b""
    while marker not in seen:
        seen = seen[-200:] + await reader.read(4096)
    return time.perf_counter()


def main() -> dict:
    with contextlib.ExitStack() as stack:
        addresses = [stack.enter_context(simulator_process("shure", "--model", "ULXD4Q", "--talk", "1,2,3,4"))
                     for _ in range(RECEIVERS)]
        return asyncio.run(_measure(addresses))


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
