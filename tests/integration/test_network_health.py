"""The generic network device: TCP connect and HTTP health checks against its simulator."""

import pytest

from drivers.network.health import HealthOptions, NetworkHealth, http_request, parse_status_line
from drivers.errors import ProtocolError
from drivers.status import Status
from drivers.supervisor import Supervisor
from drivers.transports.tcp import TcpTransport
from helpers import wait_for_status
from simulators.network_health import NetworkHealthSimulator

TIMEOUT = 0.3


@pytest.mark.parametrize("line, status", [(b"HTTP/1.1 200 OK", 200), (b"HTTP/1.0 503 Service Unavailable", 503),
                                          (b"HTTP/1.1 204", 204)])
def test_status_lines(line, status):
    assert parse_status_line(line) == status


@pytest.mark.parametrize("line", [b"SSH-2.0-OpenSSH", b"HTTP/2 200", b"HTTP/1.1 20 OK", b""])
def test_what_is_not_http_is_a_protocol_error(line):
    with pytest.raises(ProtocolError):
        parse_status_line(line)


def test_request_bytes_and_refused_paths():
    assert http_request("10.0.0.9", "/health") == (
        b"GET /health HTTP/1.1\r\nHost: 10.0.0.9\r\nUser-Agent: roomctl\r\nConnection: close\r\n\r\n")
    with pytest.raises(ValueError):
        http_request("h", "/x\r\nEvil: 1")


@pytest.fixture
async def sim():
    sim = NetworkHealthSimulator(path="/health")
    await sim.start()
    yield sim
    await sim.stop()


@pytest.mark.parametrize("check", ["tcp", "http"])
async def test_terminal_online_then_offline_then_back(sim, check):
    device = NetworkHealth("codec", TcpTransport(sim.host, sim.port),
                           options=HealthOptions(check=check, path="/health"), timeout=TIMEOUT)
    supervisor = Supervisor(device, poll_interval=0.2)
    supervisor.start()
    try:
        await wait_for_status(supervisor, Status.ONLINE, within=3)
        assert device.state["health"].ok
        assert device.state["health"].detail == ("TCP connect" if check == "tcp" else "HTTP 200")
        sim.inject("disconnect")
        took = await wait_for_status(supervisor, Status.OFFLINE, within=2 * TIMEOUT + 0.3)
        assert took <= 2 * TIMEOUT + 0.3
        sim.clear_faults()
        await wait_for_status(supervisor, Status.ONLINE, within=5)
    finally:
        await supervisor.stop()


async def test_a_server_that_says_it_is_unwell_is_a_fault(sim):
    device = NetworkHealth("server", TcpTransport(sim.host, sim.port),
                           options=HealthOptions(check="http", path="/health"), timeout=TIMEOUT)
    supervisor = Supervisor(device, poll_interval=0.2)
    supervisor.start()
    try:
        await wait_for_status(supervisor, Status.ONLINE, within=3)
        sim.inject("over_temperature")
        await wait_for_status(supervisor, Status.FAULT, within=3)
        assert supervisor.reason == "unhealthy: HTTP 503"
    finally:
        await supervisor.stop()


async def test_wrong_path_is_unhealthy(sim):
    device = NetworkHealth("server", TcpTransport(sim.host, sim.port),
                           options=HealthOptions(check="http", path="/nope"), timeout=TIMEOUT)
    await device.connect()
    assert device.state["health"].ok is False and device.state["health"].detail == "HTTP 404"
