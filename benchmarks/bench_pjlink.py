"""PJLink polling: the bare-socket floor, aiopjlink, and roomctl's driver, in one run.

Each client polls POWR, INPT, ERST and LAMP on one kept connection to the same
simulator (a separate process, projector on). Reported per request: wall time, and
the client process's CPU time; each client's overhead is what it spends above the
floor. Wall time on a shared two-core machine swings by tens of microseconds between
trials; CPU time spent in the client is the steadier measure of a client's own
overhead, so the verdict uses it. Goal: roomctl's overhead ≤ half of aiopjlink's.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._sim import simulator_process  # noqa: E402

ROUNDS = 1000      # 4 requests a round
TRIALS = 7         # clients interleaved, median of trials
BODIES = ("POWR", "INPT", "ERST", "LAMP")


class Timer:
    """Wall and process CPU time of a block."""

    def __enter__(self) -> "Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


async def floor(host: str, port: int) -> float:
    """The least any client can do: write the request, read to CR, nothing else."""
    reader, writer = await asyncio.open_connection(host, port)
    await reader.readuntil(b"\r")  # greeting
    requests = [f"%1{body} ?\r".encode() for body in BODIES]
    with Timer() as timer:
        for _ in range(ROUNDS):
            for request in requests:
                writer.write(request)
                await reader.readuntil(b"\r")
    writer.close()
    return timer


async def aiopjlink_client(host: str, port: int) -> float:
    from aiopjlink import PJLink

    async with PJLink(address=host, port=port, timeout=5) as link:
        with Timer() as timer:
            for _ in range(ROUNDS):
                await link.power.get()
                await link.sources.get()
                await link.errors.query()
                await link.lamps.status()
        return timer


async def roomctl_client(host: str, port: int) -> float:
    from drivers.projector import pjlink
    from drivers.transports.tcp import TcpTransport

    device = pjlink.PjlinkProjector("bench", TcpTransport(host, port), timeout=5)
    await device.connect()
    try:
        with Timer() as timer:
            for _ in range(ROUNDS):
                # The same four requests, each parsed into roomctl's typed state.
                pjlink.parse_power(await device._query("POWR"))
                pjlink.input_name(await device._query("INPT"))
                pjlink.parse_error_status(await device._query("ERST"))
                pjlink.parse_lamps(await device._query("LAMP"))
        return timer
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
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in clients}
    requests = ROUNDS * len(BODIES)
    for trial in range(TRIALS + 1):
        for name, client in clients.items():
            timer = await client(host, port)
            if trial:  # the first trial warms caches and the simulator
                samples[name]["wall"].append(timer.wall / requests)
                samples[name]["cpu"].append(timer.cpu / requests)
    result: dict = {}
    for measure in ("wall", "cpu"):
        per_request = {name: statistics.median(s[measure]) for name, s in samples.items()}
        overhead = {name: per_request[name] - per_request["floor"] for name in ("aiopjlink", "roomctl")}
        result[f"{measure}_per_request_us"] = {name: round(v * 1e6, 1) for name, v in per_request.items()}
        result[f"{measure}_overhead_us"] = {name: round(v * 1e6, 1) for name, v in overhead.items()}
        result[f"{measure}_roomctl_overhead_vs_aiopjlink"] = (
            round(overhead["roomctl"] / overhead["aiopjlink"], 2) if overhead["aiopjlink"] > 0 else None
        )
    result["goal"] = "cpu_roomctl_overhead_vs_aiopjlink <= 0.5"
    return result


def main() -> dict:
    with simulator_process("pjlink", "--warmup", "0", "--cooldown", "0") as address:
        return asyncio.run(_measure(address))


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
