"""Serving the sandbox from the command line: `python -m sandbox` and the shared `cli.serve`."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from sandbox import cli

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def wait_for(url, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return requests.get(url, timeout=1)
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError(f"{url} never answered")


def test_serve_prints_urls_and_logins_and_stops():
    ports = free_ports(3)
    out, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(target=cli.serve, kwargs={
        "host": "127.0.0.1", "users_port": ports[0], "products_port": ports[1], "prescriptions_port": ports[2],
        "latency_ms": 1, "validar_route_only": True, "quiet": True, "out": out, "stop": stop})
    thread.start()
    try:
        assert wait_for(f"http://127.0.0.1:{ports[1]}/echo").status_code == 200
        state = requests.get(f"http://127.0.0.1:{ports[0]}/__sandbox__/state", timeout=2).json()
        assert state["modos"]["validar_route_only"] is True
        assert state["faults"]["recetas"]["latency_ms"] == 1
    finally:
        stop.set()
        thread.join(timeout=5)
    text = out.getvalue()
    assert f"http://127.0.0.1:{ports[2]}" in text and "admin@botica.pe" in text and "Admin123!" in text
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{ports[1]}/echo", timeout=1)


def test_python_dash_m_sandbox_serves_until_ctrl_c():
    ports = free_ports(3)
    command = [sys.executable, "-m", "sandbox", "--users-port", str(ports[0]), "--products-port", str(ports[1]),
               "--prescriptions-port", str(ports[2]), "--doctors-filter-ignores-cmp", "--quiet"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603 (fixed argv)
    try:
        assert wait_for(f"http://127.0.0.1:{ports[2]}/echo").status_code == 200
        login = requests.post(f"http://127.0.0.1:{ports[0]}/api/auth/login",
                              json={"dni": "40123456", "password": "Admin123!"}, timeout=2)
        assert login.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{ports[0]}" in output


def test_management_command_parses_the_flags_and_serves():
    from sandbox.management.commands.sandbox import Command

    ports = free_ports(3)
    out, stop = io.StringIO(), threading.Event()
    command = Command(stdout=out)
    options = vars(command.create_parser("manage.py", "sandbox").parse_args([
        "--users-port", str(ports[0]), "--products-port", str(ports[1]), "--prescriptions-port", str(ports[2]),
        "--jitter-ms", "2", "--doctors-filter-ignores-cmp", "--quiet"]))
    thread = threading.Thread(target=command.handle, kwargs={**options, "stop": stop})
    thread.start()
    try:
        state = wait_for(f"http://127.0.0.1:{ports[1]}/__sandbox__/state").json()
        assert state["modos"]["doctors_filter_ignores_cmp"] is True
        assert state["faults"]["usuarios"]["jitter_ms"] == 2
    finally:
        stop.set()
        thread.join(timeout=5)
    assert "ana.quispe@example.com" in out.getvalue()
