"""PJLink polling: the bare-socket floor, aiopjlink, and roomctl's driver, in one run.

Each client polls POWR, INPT, ERST and LAMP on one kept connection to the same
simulator (a separate process, projector on). Reported: time per request, and each
client's overhead above the floor. Goal: roomctl's overhead ≤ half of aiopjlink's.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._sim import simulator_process  # noqa: E402

ROUNDS = 400       # 4 requests a round
TRIALS = 5         # clients interleaved, median of trials
BODIES = ("POWR", "INPT", "ERST", "LAMP")


async def floor(host: str, port: int) -> float:
    """The least any client can do: write the request, read to CR, nothing else."""
    reader, writer = await asyncio.open_connection(host, port)
    await reader.readuntil(b"\r")  # greeting
    requests = [f"%1{body} ?\r".encode() for body in BODIES]
    start = time.perf_counter()
    for _ in range(ROUNDS):
        for request in requests:
            writer.write(request)
            await reader.readuntil(b"\r")
    elapsed = time.perf_counter() - start
    writer.close()
    return elapsed


async def aiopjlink_client(host: str, port: int) -> float:
    from aiopjlink import PJLink

    async with PJLink(address=host, port=port, timeout=5) as link:
        start = time.perf_counter()
        for _ in range(ROUNDS):
            await link.power.get()
            await link.sources.get()
            await link.errors.query()
            await link.lamps.status()
        return time.perf_counter() - start


async def roomctl_client(host: str, port: int) -> float:
    from drivers.projector import pjlink
    from drivers.transports.tcp import TcpTransport

    device = pjlink.PjlinkProjector("bench", TcpTransport(host, port), timeout=5)
    await device.connect()
    try:
        start = time.perf_counter()
        for _ in range(ROUNDS):
            # The same four requests, each parsed into roomctl's typed state.
            pjlink.parse_power(await device._query("POWR"))
            pjlink.input_name(await device._query("INPT"))
            pjlink.parse_error_status(await device._query("ERST"))
            pjlink.parse_lamps(await device._query("LAMP"))
        return time.perf_counter() - start
    finally:
        await device.close()


async def _power_on(host: str, port: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    await reader.readuntil(b"\r")
    writer.write(b"%1POWR 1\r")
    await reader.readuntil(b"\r")
    for _ in range(100):
        writer.write(b"%1POWR ?\r")
        if (await reader.readuntil(b"\r")) == b"%1POWR=1\r":
            break
        await asyncio.sleep(0.05)
    writer.close()


async def _measure(address: str) -> dict:
    host, port = address.rsplit(":", 1)
    port = int(port)
    await _power_on(host, port)
    clients = {"floor": floor, "aiopjlink": aiopjlink_client, "roomctl": roomctl_client}
    times: dict[str, list[float]] = {name: [] for name in clients}
    for trial in range(TRIALS + 1):
        for name, client in clients.items():
            elapsed = await client(host, port)
            if trial:  # the first trial warms caches and the simulator
                times[name].append(elapsed / (ROUNDS * len(BODIES)))
    per_request = {name: statistics.median(values) for name, values in times.items()}
    overhead = {name: per_request[name] - per_request["floor"] for name in ("aiopjlink", "roomctl")}
    return {
        "per_request_us": {name: round(value * 1e6, 1) for name, value in per_request.items()},
        "overhead_us": {name: round(value * 1e6, 1) for name, value in overhead.items()},
        "roomctl_overhead_vs_aiopjlink": round(overhead["roomctl"] / overhead["aiopjlink"], 2)
        if overhead["aiopjlink"] > 0 else None,
        "goal": "roomctl_overhead_vs_aiopjlink <= 0.5",
    }


def main() -> dict:
    with simulator_process("pjlink", "--warmup", "0", "--cooldown", "0") as address:
        return asyncio.run(_measure(address))


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
