"""X-Air fader set + read-back: a bare python-osc loop (the floor), roomctl's driver, xair-api.

Each client sets channel 1's fader and reads it back, on one X-Air simulator running
as its own process (`roomctl sim xair`). A round is one set datagram (no answer) and
one query answered by the mixer. Reported: time per round for each client and
roomctl's ratio to the floor. Goal: roomctl within 1.2× of the floor. Beside it, the
same bare loop on an asyncio endpoint, on the loop roomctl runs on (uvloop where
installed, see controller/loop.py): the share of the gap any event-loop client pays. On
asyncio's own loop that bare loop alone costs ~1.2-1.27× the floor here. xair-api's
rate is reported beside them: its query waits a fixed delay (20 ms by default) for
the answer instead of waiting for the answer itself, which bounds it, not the mixer.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._sim import simulator_process  # noqa: E402

ROUNDS = 2000
TRIALS = 5           # clients interleaved, median of trials
XAIR_API_ROUNDS = 50  # 20 ms a query: a few are enough for a rate
POSITIONS = (0.25024437927663734, 0.7497556207233627)  # -30 dB and 0 dB, on the console's 1024 steps


def floor(host: str, port: int) -> float:
    """The least a python-osc client can do: build, send, receive, parse — a blocking socket."""
    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder
    from pythonosc.udp_client import UDPClient

    client = UDPClient(host, port, timeout=2.0)
    address = "/ch/01/mix/fader"
    start = time.perf_counter()
    for i in range(ROUNDS):
        builder = OscMessageBuilder(address=address)
        builder.add_arg(POSITIONS[i % 2], "f")
        client.send(builder.build())
        client.send(OscMessageBuilder(address=address).build())
        while True:
            reply = OscMessage(client.receive())
            if reply.address == address:
                break
        assert abs(reply.params[0] - POSITIONS[i % 2]) < 1e-6
    return time.perf_counter() - start


async def asyncio_floor(host: str, port: int) -> float:
    """The same loop on an asyncio datagram endpoint: what any event-loop client pays."""
    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    loop = asyncio.get_running_loop()
    address = "/ch/01/mix/fader"

    class Replies(asyncio.DatagramProtocol):
        waiter: asyncio.Future | None = None

        def datagram_received(self, data, addr) -> None:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(data)

    transport, replies = await loop.create_datagram_endpoint(Replies, remote_addr=(host, port))
    try:
        start = time.perf_counter()
        for i in range(ROUNDS):
            builder = OscMessageBuilder(address=address)
            builder.add_arg(POSITIONS[i % 2], "f")
            transport.sendto(builder.build().dgram)
            replies.waiter = loop.create_future()
            transport.sendto(OscMessageBuilder(address=address).build().dgram)
            reply = OscMessage(await asyncio.wait_for(replies.waiter, 2.0))
            assert reply.address == address
        return time.perf_counter() - start
    finally:
        transport.close()


async def roomctl_client(host: str, port: int) -> float:
    from drivers.audio.mixer import MixerOptions, XAirMixer, fader_db
    from drivers.transports.udp import UdpTransport

    device = XAirMixer("bench", UdpTransport(host, port), options=MixerOptions(channels=1, meters=False), timeout=2)
    await device.connect()
    levels = [fader_db(p) for p in POSITIONS]
    try:
        start = time.perf_counter()
        for i in range(ROUNDS):
            # set, read back, compare: the same two datagrams out and one in, parsed into typed state
            await device.set_fader(1, levels[i % 2])
        elapsed = time.perf_counter() - start
        assert device.state["faders"][1] == levels[(ROUNDS - 1) % 2]
        return elapsed
    finally:
        await device.close()


def xair_api_client(host: str, port: int) -> float:
    import xair_api

    with xair_api.connect("XR18", ip=host, port=port) as mixer:
        start = time.perf_counter()
        for i in range(XAIR_API_ROUNDS):
            mixer.strip[0].mix.fader = -30.0 if i % 2 == 0 else 0.0
            mixer.strip[0].mix.fader  # noqa: B018 — the read-back is a query with a fixed wait
        return (time.perf_counter() - start) * ROUNDS / XAIR_API_ROUNDS


def _measure(address: str) -> dict:
    host, port = address.rsplit(":", 1)
    port = int(port)
    clients = {
        "floor_python_osc": lambda: floor(host, port),
        "python_osc_asyncio": lambda: asyncio.run(asyncio_floor(host, port)),
        "roomctl": lambda: asyncio.run(roomctl_client(host, port)),
    }
    times: dict[str, list[float]] = {name: [] for name in clients}
    for trial in range(TRIALS + 1):
        for name, client in clients.items():
            elapsed = client()
            if trial:  # the first trial warms caches and the simulator
                times[name].append(elapsed / ROUNDS)
    per_round = {name: statistics.median(values) for name, values in times.items()}
    per_round["xair_api"] = xair_api_client(host, port) / ROUNDS
    ratio = per_round["roomctl"] / per_round["floor_python_osc"]
    from benchmarks import LOOP

    return {
        "event_loop": LOOP,
        "per_round_trip_us": {name: round(value * 1e6, 1) for name, value in per_round.items()},
        "round_trips_per_s": {name: round(1 / value) for name, value in per_round.items()},
        "roomctl_vs_floor": round(ratio, 2),
        "roomctl_vs_python_osc_asyncio": round(per_round["roomctl"] / per_round["python_osc_asyncio"], 2),
        "xair_api_vs_floor": round(per_round["xair_api"] / per_round["floor_python_osc"], 1),
        "goal": "roomctl_vs_floor <= 1.2",
        "met": ratio <= 1.2,
    }


def main() -> dict:
    with simulator_process("xair") as address:
        return _measure(address)


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
