"""Command line for serving the sandbox: shared by `python -m sandbox` and `manage.py sandbox`."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TextIO

from .control import DEFAULT_PORTS, SERVICES, Sandbox
from .seed import DEMO_LOGINS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--users-port", type=int, default=DEFAULT_PORTS[0])
    parser.add_argument("--products-port", type=int, default=DEFAULT_PORTS[1])
    parser.add_argument("--prescriptions-port", type=int, default=DEFAULT_PORTS[2])
    parser.add_argument("--latency-ms", type=float, default=0, help="added latency on every service")
    parser.add_argument("--jitter-ms", type=float, default=0, help="random extra latency, 0..N ms")
    parser.add_argument("--doctors-filter-ignores-cmp", action="store_true",
                        help="emulate deployments whose /api/medicos/filter ignores cmp")
    parser.add_argument("--validar-route-only", action="store_true",
                        help="emulate deployments with only PUT /api/recetas/{id}/validar")
    parser.add_argument("--newest-generation", action="store_true",
                        help="emulate the newest prescriptions service: no estado/{id}, OCR validar, "
                             "doctors filter ignoring cmp")
    parser.add_argument("--validar-without-s3", action="store_true",
                        help="validar fails as with no S3 bucket configured (500)")
    parser.add_argument("--upstream-timezone", default="UTC",
                        help="zone users and products write their naive times in (default UTC)")
    parser.add_argument("--quiet", action="store_true", help="no access log")


def serve(*, host: str, users_port: int, products_port: int, prescriptions_port: int, latency_ms: float = 0,
          jitter_ms: float = 0, doctors_filter_ignores_cmp: bool = False, validar_route_only: bool = False,
          newest_generation: bool = False, validar_without_s3: bool = False, upstream_timezone: str = "UTC",
          quiet: bool = False, out: TextIO = sys.stdout, stop: threading.Event | None = None, **_: object) -> None:
    """Serve until Ctrl-C (or until `stop` is set)."""
    sandbox = Sandbox(host=host, ports=(users_port, products_port, prescriptions_port),
                      doctors_filter_ignores_cmp=doctors_filter_ignores_cmp,
                      validar_route_only=validar_route_only, access_log=not quiet)
    if newest_generation:
        sandbox.generation = "nueva"
    sandbox.validar_without_s3 = validar_without_s3
    if upstream_timezone != "UTC":
        sandbox.upstream_timezone = upstream_timezone
    # Faults before listening, so the first request already sees them.
    if latency_ms or jitter_ms:
        for name in SERVICES:
            sandbox.faults(name, latency_ms=latency_ms, jitter_ms=jitter_ms)
    sandbox.start()
    out.write(describe(sandbox))
    out.flush()
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
        out.write("Sandbox detenido.\n")


def describe(sandbox: Sandbox) -> str:
    lines = ["Sandbox de servicios upstream:"]
    lines += [f"  {name:<10} {url}" for name, url in sandbox.urls.items()]
    lines.append("Usuarios de demostración:")
    lines += [f"  {login['rol']:<8} dni {login['dni']}  {login['email']:<28} {login['password']}"
              for login in DEMO_LOGINS]
    lines.append("Control: POST /__sandbox__/faults | reset | workload | modes, GET /__sandbox__/state")
    lines.append("Ctrl-C para detener.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Serve the three stand-in upstreams.")
    add_arguments(parser)
    serve(**vars(parser.parse_args(argv)))
