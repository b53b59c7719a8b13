"""Scene recall over 20 simulated devices: the controller's own overhead.

A room of 20 devices (PJLink projectors on TCP, Zigbee2MQTT lights and Tasmota
dimmers and relays on the embedded MQTT broker) gets one scene that sets all of them
in parallel. For every recall, the overhead is the recall's time minus the slowest
device's own response in it (its step, from command sent to the device's confirmed
answer). Goal: p99 ≤ 20 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RECALLS = 60

DEVICES = (
    [f"      - {{id: proj{i}, driver: pjlink, simulate: true, timeout: 2, poll_interval: 5,"
     f" simulator: {{warmup: 0, cooldown: 0}}}}" for i in range(5)]
    + [f"      - {{id: light{i}, driver: z2m_light, simulate: true, timeout: 2, poll_interval: 5,"
       f" options: {{friendly_name: bench/light{i}}}}}" for i in range(9)]
    + [f"      - {{id: dimmer{i}, driver: tasmota_dimmer, simulate: true, timeout: 2, poll_interval: 5,"
       f" options: {{topic: bench-dimmer{i}}}}}" for i in range(3)]
    + [f"      - {{id: relay{i}, driver: tasmota_relay, simulate: true, timeout: 2, poll_interval: 5,"
       f" options: {{topic: bench-relay{i}}}}}" for i in range(3)]
)


def scene(name: str, level: int, on: bool) -> str:
    steps = ([f"              - {{device: proj{i}, command: {{type: av_mute, video: {str(on).lower()}, audio: {str(on).lower()}}}}}"
              for i in range(5)]
             + [f"              - {{device: light{i}, command: {{type: brightness, percent: {level}}}}}" for i in range(9)]
             + [f"              - {{device: dimmer{i}, command: {{type: brightness, percent: {level}}}}}" for i in range(3)]
             + [f"              - {{device: relay{i}, command: {{type: power, \"on\": {str(on).lower()}}}}}" for i in range(3)])
    return f"      {name}:\n        steps:\n          - parallel:\n" + "\n".join(steps)


def config_text(store: Path) -> str:
    return "\n".join([
        "site: bench", "api: {port: 0}", f"store: {store}", "rooms:", "  - id: hall", "    devices:", *DEVICES,
        "    scenes:", scene("a", 30, True), scene("b", 70, False),
        "      on:\n        steps:\n          - parallel:\n" + "\n".join(
            f"              - {{device: proj{i}, command: {{type: power, \"on\": true}}}}" for i in range(5)),
    ]) + "\n"


async def _measure() -> dict:
    from controller.app import Controller
    from controller.config import parse_config

    with tempfile.TemporaryDirectory() as scratch:
        controller = Controller(parse_config(config_text(Path(scratch) / "b.sqlite3")), serve_api=False)
        await controller.start()
        try:
            missing = await controller.wait_until_online(30)
            if missing:
                raise RuntimeError(f"devices not online: {missing}")
            await controller.scenes.recall("hall", "on", actor="bench")
            for _ in range(50):  # projectors on (warm-up 0), so A/V mute is accepted
                if all(controller.site.device("hall", f"proj{i}").device.state.get("power") == "on" for i in range(5)):
                    break
                await asyncio.sleep(0.1)
            overheads, totals, slowest = [], [], []
            for n in range(RECALLS + 2):
                result = await controller.scenes.recall("hall", "a" if n % 2 else "b", actor="bench")
                if not result.ok:
                    raise RuntimeError([s for s in result.steps if not s.ok][:3])
                if n < 2:
                    continue  # warm-up
                worst = max(step.duration_ms for step in result.steps)
                totals.append(result.duration_ms)
                slowest.append(worst)
                overheads.append(result.duration_ms - worst)
        finally:
            await controller.stop()
    overheads.sort()
    p99 = overheads[min(len(overheads) - 1, int(0.99 * len(overheads)))]
    return {
        "devices": len(DEVICES),
        "recalls": len(totals),
        "recall_ms": {"median": round(statistics.median(totals), 2), "max": round(max(totals), 2)},
        "slowest_device_ms": {"median": round(statistics.median(slowest), 2)},
        "overhead_ms": {"median": round(statistics.median(overheads), 3), "p99": round(p99, 3)},
        "goal": "overhead p99 <= 20 ms",
    }


def main() -> dict:
    return asyncio.run(_measure())


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
