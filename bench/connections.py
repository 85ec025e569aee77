"""Hostile clients against the served orchestrator: is /health still answered while connections that
never finish their request are held open?

    python -m bench.connections [--server default|waitress|granian|gunicorn-gthread]
                                [--idle 200] [--trickle 100] [--probes 100] [--seconds-between 0.5]

Starts the orchestrator (no upstreams needed: /health makes no upstream call) on a free loopback
port, opens `--idle` TCP connections that send nothing and `--trickle` connections that send a
request line and then one header byte every `--trickle-every` seconds, then times `--probes`
sequential `GET /api/orchestrator/health` (a new connection each, 5 s timeout: a timeout counts as
5000 ms and as failed). Everything is loopback and bounded.
"""
from __future__ import annotations

import argparse
import math
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE_TIMEOUT = 5.0
HEALTH = b"GET /api/orchestrator/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(server: str, port: int) -> list[str]:
    python = sys.executable
    bind = f"127.0.0.1:{port}"
    if server == "default":  # what run_server.sh runs
        return [python, "-m", "portal.serve", "--bind", bind]
    if server == "waitress":
        return [python, "-m", "waitress", "--listen", bind, "--threads", "16", "--connection-limit", "1000",
                "portal.wsgi:application"]
    if server == "granian":
        return [python, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--blocking-threads", "16", "--no-ws", "portal.wsgi:application"]
    if server == "gunicorn-gthread":
        return [python, "-m", "gunicorn", "portal.wsgi", "-c", "gunicorn.conf.py", "--bind", bind]
    raise SystemExit(f"unknown server {server!r}")


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            probe_once(port)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not answer /health")


def probe_once(port: int) -> float:
    """Milliseconds to a complete `GET /health` answer on a fresh connection."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as sock:
        sock.settimeout(PROBE_TIMEOUT)
        sock.sendall(HEALTH)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if time.perf_counter() - started > PROBE_TIMEOUT:
                raise TimeoutError
    if not data.startswith(b"HTTP/1.1 200"):
        raise OSError(f"unexpected answer {data[:40]!r}")
    return (time.perf_counter() - started) * 1000


class Hostiles:
    """Idle and header-trickling connections, held open until `close()`."""

    def __init__(self, port: int, idle: int, trickle: int, every: float, trickle_body: int = 0) -> None:
        self.idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(idle)]
        self.trickling = []
        for _ in range(trickle):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /api/orchestrator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.trickling.append(sock)
        for _ in range(trickle_body):
            # Whole headers, then a body that never completes: a server that calls the app before
            # the body is in ties a thread to each of these.
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /api/orchestrator/compras HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{")
            self.trickling.append(sock)
        self.every = every
        self.alive = len(self.idle) + len(self.trickling)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(self.every):
            for sock in list(self.trickling):
                try:
                    sock.send(b"X")  # never a whole header line: the request is never complete
                except OSError:
                    self.trickling.remove(sock)

    def still_open(self) -> int:
        """Connections the server has not closed (a closed one reads EOF at once)."""
        count = 0
        for sock in self.idle + self.trickling:
            sock.setblocking(False)
            try:
                count += sock.recv(1) != b""
            except BlockingIOError:
                count += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.idle + self.trickling:
            sock.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def measure(server: str, idle: int, trickle: int, probes: int, every: float,
            trickle_body: int = 0) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "False", "LOG_LEVEL": "WARNING",
           "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    proc = subprocess.Popen(server_command(server, port), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        baseline = [probe_once(port) for _ in range(20)]
        hostiles = Hostiles(port, idle, trickle, every, trickle_body)
        try:
            time.sleep(1.0)  # let the trickle start
            times, failed = [], 0
            for _ in range(probes):
                try:
                    times.append(probe_once(port))
                except OSError:
                    times.append(PROBE_TIMEOUT * 1000)
                    failed += 1
            open_after = hostiles.still_open()
        finally:
            hostiles.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"baseline_p50": percentile(baseline, 50), "p50": percentile(times, 50), "p99": percentile(times, 99),
            "max": max(times), "failed": failed, "probes": probes, "held_open": open_after}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.connections", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", action="append",
                        choices=["default", "waitress", "granian", "gunicorn-gthread"])
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--trickle", type=int, default=100)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--trickle-body", type=int, default=0, help="connections that trickle a POST body")
    parser.add_argument("--trickle-every", type=float, default=0.5)
    args = parser.parse_args(argv)
    print(f"{args.idle} conexiones inactivas + {args.trickle} que gotean cabeceras + {args.trickle_body} que "
          f"gotean el cuerpo; {args.probes} GET /health\n")
    print("| servidor | /health sin carga p50 ms | p50 ms | p99 ms | máx ms | fallidas "
          "| conexiones hostiles aún abiertas |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for server in args.server or ["default"]:
        r = measure(server, args.idle, args.trickle, args.probes, args.trickle_every, args.trickle_body)
        print(f"| {server} | {r['baseline_p50']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} "
              f"| {r['failed']:.0f}/{r['probes']:.0f} | {r['held_open']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
