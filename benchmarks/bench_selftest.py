"""The self-test of a 20-device room against its slowest device alone; ten rooms at once.

One room: 5 PJLink projectors, 2 Shure receivers (8 mics) into an X32 with the speak
test done by the simulated talker, 8 Zigbee2MQTT lights, a thermostat, 3 network
services (20 devices). Its full self-test's wall time is compared with the slowest
single device's checks run alone. Then ten such rooms run their self-tests at the
same time, against one room alone. Goals: ≤ 1.15× and ≤ 1.3×.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RUNS = 3


def room(index: int) -> str:
    r = f"r{index}"
    devices = (
        [f"      - {{id: proj{i}, driver: pjlink, simulate: true, timeout: 1, poll_interval: 2,"
         f" simulator: {{warmup: 0.5, cooldown: 0.5}}}}" for i in range(5)]
        + [f"      - {{id: rx{i}, driver: shure, simulate: true, timeout: 1, poll_interval: 2,"
           f" simulator: {{model: ULXD4Q}}}}" for i in range(2)]
        + ["      - {id: mixer, driver: x32, simulate: true, timeout: 1, poll_interval: 2, options: {channels: 8},"
           " simulator: {inputs: {1: rx0/1, 2: rx0/2, 3: rx0/3, 4: rx0/4, 5: rx1/1, 6: rx1/2, 7: rx1/3, 8: rx1/4}}}"]
        + [f"      - {{id: light{i}, driver: z2m_light, simulate: true, timeout: 2, poll_interval: 2,"
           f" options: {{friendly_name: {r}/light{i}}}}}" for i in range(8)]
        + [f"      - {{id: stat{i}, driver: z2m_thermostat, simulate: true, timeout: 2, poll_interval: 2,"
           f" options: {{friendly_name: {r}/stat{i}}}, simulator: {{temperature: 24}}}}" for i in range(1)]
        + [f"      - {{id: svc{i}, driver: network_health, simulate: true, timeout: 1, poll_interval: 2}}" for i in range(3)]
    )
    mics = "\n".join(f"        - {{name: M{n}, receiver: rx{(n - 1) // 4}, channel: {(n - 1) % 4 + 1}, mixer: mixer, input: {n}}}"
                     for n in range(1, 9))
    return "\n".join([f"  - id: {r}", "    selftest: {thresholds: {speak_within: 10}}", "    devices:", *devices,
                      "    audio:", "      mixer: mixer", "      mics:", mics])


def site(rooms: int, store: Path) -> str:
    return "\n".join(["site: bench", "api: {port: 0}", f"store: {store}", "rooms:", *(room(i) for i in range(rooms))]) + "\n"


async def _controller(rooms: int, scratch: str):
    from controller.app import Controller
    from controller.config import parse_config

    controller = Controller(parse_config(site(rooms, Path(scratch) / f"s{rooms}.sqlite3")), serve_api=False)
    await controller.start()
    missing = await controller.wait_until_online(60)
    if missing:
        await controller.stop()
        raise RuntimeError(f"not online: {missing[:5]}")
    return controller


async def _timed(coro) -> float:
    start = time.monotonic()
    report = await coro
    if not report.ready:
        raise RuntimeError([(r.device, r.subject, r.check, r.problem) for r in report.results if r.verdict == "fail"][:5])
    return time.monotonic() - start


async def _measure() -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        one = await _controller(1, scratch)
        try:
            devices = [d.id for d in one.site.rooms["r0"].devices.values()]
            full, slowest = [], []
            for _ in range(RUNS):
                full.append(await _timed(one.selftest.run("r0")))
                alone = []
                for device in devices:
                    # The speak test needs its mixer too: a receiver "alone" is judged with it.
                    chosen = {device, "mixer"} if device.startswith("rx") else {device}
                    alone.append(await _timed(one.selftest.run("r0", devices=chosen)))
                slowest.append(max(alone))
        finally:
            await one.stop()
        ten = await _controller(10, scratch)
        try:
            single, together = [], []
            for _ in range(RUNS):
                single.append(await _timed(ten.selftest.run("r0")))
                start = time.monotonic()
                await asyncio.gather(*(_timed(ten.selftest.run(f"r{i}")) for i in range(10)))
                together.append(time.monotonic() - start)
        finally:
            await ten.stop()
    room_s, slowest_s = statistics.median(full), statistics.median(slowest)
    single_s, ten_s = statistics.median(single), statistics.median(together)
    return {
        "room_of_20_s": round(room_s, 2), "slowest_device_alone_s": round(slowest_s, 2),
        "room_vs_slowest_device": round(room_s / slowest_s, 3),
        "one_room_s": round(single_s, 2), "ten_rooms_at_once_s": round(ten_s, 2),
        "ten_rooms_vs_one": round(ten_s / single_s, 3),
        "goal": "room_vs_slowest_device <= 1.15, ten_rooms_vs_one <= 1.3",
    }


def main() -> dict:
    return asyncio.run(_measure())


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
