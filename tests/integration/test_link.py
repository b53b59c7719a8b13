"""The Link over real transports: stray frames, loop:// serial ports, pacing."""

import asyncio
import time

import pytest

from drivers.errors import DeviceTimeout, DeviceUnreachable
from drivers.link import Link
from drivers.projector.pjlink import PjlinkProjector
from drivers.status import Status
from drivers.supervisor import Supervisor
from drivers.transports.framing import LineFramer
from drivers.transports.serial import SerialTransport
from drivers.transports.tcp import TcpTransport
from helpers import wait_for_status


async def serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_reply_to_a_request_never_sent_is_not_taken_for_the_next_answer():
    """The device volunteers `%1POWR=1` nobody asked for, then answers the INPT query."""

    async def projector(reader, writer):
        writer.write(b"PJLINK 0\r")
        while line := await reader.readuntil(b"\r"):
            if line.startswith(b"%1INPT"):
                writer.write(b"%1POWR=1\r%1INPT=31\r")  # a stray reply first, then the answer
            else:
                writer.write(line[:6] + b"=0\r")

    server, port = await serve(projector)
    device = PjlinkProjector("p", TcpTransport("127.0.0.1", port), timeout=1)
    await device.link.open()
    try:
        await device.link.receive(timeout=1)
        assert await device._query("INPT") == "31"
        assert device.link.stats.stray_frames == 1
    finally:
        await device.link.close()
        server.close()


async def test_a_late_answer_after_a_timeout_does_not_poison_the_next_request():
    released = asyncio.Event()  # the device answers the first request only after it timed out

    async def late_then_prompt(reader, writer):
        first = True
        while line := await reader.readuntil(b"\r"):
            if first:
                first = False
                await released.wait()
            writer.write(line.replace(b" ?", b"=").rstrip(b"\r") + b"answer\r")

    server, port = await serve(late_then_prompt)
    link = Link(TcpTransport("127.0.0.1", port), LineFramer(b"\r"))
    await link.open()
    try:
        with pytest.raises(DeviceTimeout):
            await link.request(b"%1POWR ?\r", timeout=0.1)
        released.set()
        answer = await link.request(b"%1LAMP ?\r", timeout=2, parse=lambda f: f if f.startswith(b"%1LAMP") else None)
        assert answer == b"%1LAMP=answer"
        assert link.stats.stray_frames == 1  # the late POWR answer, dropped
    finally:
        await link.close()
        server.close()


async def test_peer_hanging_up_fails_the_waiting_request_at_once():
    async def hang_up(reader, writer):
        await reader.readuntil(b"\r")
        writer.close()

    server, port = await serve(hang_up)
    link = Link(TcpTransport("127.0.0.1", port), LineFramer(b"\r"))
    await link.open()
    try:
        start = time.monotonic()
        with pytest.raises(DeviceUnreachable):
            await link.request(b"%1POWR ?\r", timeout=5)
        assert time.monotonic() - start < 1
    finally:
        await link.close()
        server.close()


async def test_serial_url_ports_without_a_descriptor_work_through_a_thread():
    # pyserial's loop:// echoes what is written: a port with no file descriptor.
    link = Link(SerialTransport("loop://", baudrate=9600), LineFramer(b"\r"))
    await link.open()
    try:
        assert await link.request(b"PWR?\r", timeout=2) == b"PWR?"
    finally:
        await link.close()


async def test_pacing_spaces_requests():
    link = Link(SerialTransport("loop://"), LineFramer(b"\r"), pacing=0.1)
    await link.open()
    try:
        start = time.monotonic()
        for _ in range(3):
            await link.request(b"x\r", timeout=2)
        assert time.monotonic() - start >= 0.2
    finally:
        await link.close()


async def test_nothing_listening_is_offline_and_retried_not_a_crash():
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    supervisor = Supervisor(PjlinkProjector("gone", TcpTransport("127.0.0.1", port), timeout=0.2), poll_interval=0.2)
    supervisor.start()
    try:
        await wait_for_status(supervisor, Status.OFFLINE, within=2)
        assert "cannot connect" in supervisor.reason
    finally:
        await supervisor.stop()


async def test_a_short_request_after_a_long_one_times_out_at_its_own_deadline():
    """One watchdog per link: armed for a 30 s request that was answered, it must not make a
    0.2 s request that goes unanswered wait 30 s."""

    async def answers_once(reader, writer):
        await reader.readuntil(b"\r")
        writer.write(b"%1POWR=1\r")
        while await reader.readuntil(b"\r"):
            pass  # then silence

    server, port = await serve(answers_once)
    link = Link(TcpTransport("127.0.0.1", port), LineFramer(b"\r"))
    await link.open()
    try:
        assert await link.request(b"%1POWR ?\r", timeout=30) == b"%1POWR=1"
        started = time.monotonic()
        with pytest.raises(DeviceTimeout):
            await link.request(b"%1LAMP ?\r", timeout=0.2)
        assert time.monotonic() - started < 5  # its own 0.2 s (with room for a loaded machine), not 30 s
    finally:
        await link.close()
        server.close()


async def test_a_short_datagram_request_after_a_long_one_resends_and_times_out_at_its_own_deadline():
    """The same on UDP, where the watchdog also resends: a lost datagram is sent again within
    its share of the request's timeout, not the previous request's."""
    from drivers.datagram_link import DatagramLink
    from drivers.transports.udp import UdpTransport

    loop = asyncio.get_running_loop()
    heard: list[bytes] = []

    class AnswersOnce(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, addr):
            heard.append(data)
            if len(heard) == 1:
                self.transport.sendto(b"answer", addr)

    device, _ = await loop.create_datagram_endpoint(AnswersOnce, local_addr=("127.0.0.1", 0))
    link = DatagramLink(UdpTransport("127.0.0.1", device.get_extra_info("sockname")[1]), decode=bytes)
    await link.open()
    try:
        assert await link.request(b"first", lambda m: m, timeout=30) == b"answer"
        started = time.monotonic()
        with pytest.raises(DeviceTimeout):
            await link.request(b"second", lambda m: m, timeout=0.4, attempts=2)
        assert time.monotonic() - started < 5
        assert heard == [b"first", b"second", b"second"]  # sent again after its first share
        assert link.stats.resends == 1 and link.stats.timeouts == 1
    finally:
        await link.close()
        device.close()
