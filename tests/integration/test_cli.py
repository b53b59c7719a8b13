"""The commands as a user runs them: real subprocesses."""

import os
import signal
import subprocess
import sys
import textwrap
import time

ROOMCTL = [sys.executable, "-m", "controller.cli"]


def test_demo_check_brings_every_device_online():
    result = subprocess.run([*ROOMCTL, "demo", "--check"], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every device is online" in result.stdout
    for device in ("projector", "side-projector", "display"):
        assert device in result.stdout
    assert result.stdout.count(" online ") >= 3


def test_demo_check_names_the_device_that_did_not_come_up(tmp_path):
    config = tmp_path / "site.yaml"
    config.write_text(textwrap.dedent("""\
        site: broken
        rooms:
          - id: hall
            devices:
              - {id: good, driver: pjlink, simulate: true}
              - {id: gone, driver: pjlink, host: 127.0.0.1, port: 9, timeout: 0.2}
        """))
    result = subprocess.run([*ROOMCTL, "demo", "--check", "--config", str(config), "--timeout", "3"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "hall/gone: offline" in result.stderr
    assert "hall/good" not in result.stderr


def test_simulator_command_prints_listening_and_stops_on_sigterm():
    process = subprocess.Popen([*ROOMCTL, "sim", "pjlink", "--host", "127.0.0.1", "--port", "0"],
                               stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("listening 127.0.0.1:"), line
        host, port = line.split()[1].rsplit(":", 1)
        import socket

        with socket.create_connection((host, int(port)), timeout=5) as sock:
            assert sock.recv(64) == b"PJLINK 0\r"
            sock.sendall(b"%1POWR ?\r")
            assert sock.recv(64) == b"%1POWR=0\r"
        process.send_signal(signal.SIGTERM)
        start = time.monotonic()
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - start < 5
    finally:
        if process.poll() is None:
            process.kill()


def test_escvp21_simulator_command_on_a_pty():
    process = subprocess.Popen([*ROOMCTL, "sim", "escvp21", "--pty"], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("listening /dev/"), line
        path = line.split()[1]
        import serial

        with serial.Serial(path, 9600, timeout=2) as port:
            port.write(b"PWR?\r")
            reply = port.read_until(b":")
            assert reply in (b"PWR=00\r:", b"PWR=04\r:"), reply  # standby
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_simulator_faults_from_standard_input():
    process = subprocess.Popen([*ROOMCTL, "sim", "pjlink"], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        host, port = process.stdout.readline().split()[1].rsplit(":", 1)
        process.stdin.write("inject no_reply\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "injected no_reply"
        import socket

        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.recv(64)  # greeting
            sock.sendall(b"%1POWR ?\r")
            sock.settimeout(0.5)
            try:
                data = sock.recv(64)
            except TimeoutError:
                data = b""
            assert data == b""
        process.stdin.write("clear\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "cleared all"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
