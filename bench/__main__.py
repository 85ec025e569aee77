"""Benchmark: wall time and upstream calls of the listings and of a purchase, against the floor.

    python -m bench [--latency-ms 20] [--jitter-ms 0] [--workloads 10x5,100x30,1000x200]
                    [--repeat 30] [--clients 16] [--write docs/performance.md]

Starts the sandbox (subprocess, with latency on every call) and the orchestrator (gunicorn,
subprocess) on free ports, seeds each workload (P purchases over D distinct products for a fresh
customer), and measures p50/p95 over `--repeat` sequential requests after one warm-up. The
critical-path floor is the sum over the orchestrator's sequential stages of one upstream latency
per wave of at most UPSTREAM_MAX_CONCURRENCY concurrent calls:
  GET /compras/me, /compras/all: [purchases] + ceil(distinct products / C) waves   (/user/me is cached)
  POST /compras (3 lines):       [products + offers] + [stock re-read] + [stock writes] + [purchase]
"""
from __future__ import annotations

import argparse
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=0.5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ports = [free_port() for _ in range(3)]
        self.port = free_port()
        self.users, self.products, self.prescriptions = (f"http://127.0.0.1:{p}" for p in self.ports)
        self.base = f"http://127.0.0.1:{self.port}/api/orchestrator"
        self.http = requests.Session()
        self.procs: list[subprocess.Popen] = []

    # -- processes -------------------------------------------------------------------------------
    def start(self) -> None:
        python = sys.executable
        env = {**os.environ, "JWT_SECRET": JWT_SECRET}
        self.procs.append(subprocess.Popen(
            [python, "-m", "sandbox", "--quiet", "--users-port", str(self.ports[0]),
             "--products-port", str(self.ports[1]), "--prescriptions-port", str(self.ports[2])],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
        for url in (self.users, self.products, self.prescriptions):
            wait_for(url + "/__sandbox__/state")
        env.update({
            "URL_USUARIOS_COMPRAS": self.users, "URL_PRODUCTOS_OFERTAS": self.products,
            "URL_RECETAS_MEDICOS": self.prescriptions, "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "False", "LOG_LEVEL": "WARNING", "API_RATE_LIMIT": "1000000",
            "UPSTREAM_MAX_CONCURRENCY": str(self.args.concurrency), "WEB_CONCURRENCY": str(self.args.workers),
            "GUNICORN_THREADS": str(self.args.threads), "UPSTREAM_READ_TIMEOUT": "30", "UPSTREAM_DEADLINE": "60",
        })
        if self.args.cache_url:
            env["CACHE_URL"] = self.args.cache_url
        env["PRODUCT_CACHE_SECONDS"] = str(self.args.product_cache_seconds)
        self.procs.append(subprocess.Popen(
            [python, "-m", "gunicorn", "portal.wsgi", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(self.base + "/health")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)

    # -- sandbox helpers -------------------------------------------------------------------------
    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, self.users + "/__sandbox__/" + path, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Reseed the sandbox; a reset clears faults, so the injected latency is set again."""
        self.control("POST", "reset")
        for service in ("usuarios", "productos", "recetas"):
            self.control("POST", "faults", json={"servicio": service, "latency_ms": self.args.latency_ms,
                                                 "jitter_ms": self.args.jitter_ms})

    def upstream_calls(self) -> int:
        return sum(self.control("GET", "state")["peticiones"].values())

    def customer(self, purchases: int, distinct: int) -> str:
        dni = f"9{secrets.randbelow(10**7):07d}"
        body = {"email": f"bench{dni}@example.com", "password": "Bench123!", "nombre": "Carga",
                "apellido": "Prueba", "dni": dni, "distrito": "Lince"}
        token = self.http.post(self.users + "/api/auth/register", json=body, timeout=30).json()["token"]
        self.control("POST", "workload", json={"dni": dni, "compras": purchases, "productos_distintos": distinct})
        return token

    def admin_token(self) -> str:
        answer = self.http.post(self.users + "/api/auth/login",
                                json={"dni": "40123456", "password": "Admin123!"}, timeout=30)
        return answer.json()["token"]

    # -- measuring -------------------------------------------------------------------------------
    def measure(self, method: str, path: str, token: str, body: Any = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        self.http.request(method, self.base + path, headers=headers, json=body, timeout=120)  # warm-up
        times, calls, last = [], [], None
        for _ in range(self.args.repeat):
            before = self.upstream_calls()
            started = time.perf_counter()
            last = self.http.request(method, self.base + path, headers=headers, json=body, timeout=120)
            times.append((time.perf_counter() - started) * 1000)
            calls.append(self.upstream_calls() - before)
            if last.status_code >= 300:
                raise RuntimeError(f"{method} {path} answered {last.status_code}: {last.text[:300]}")
        return {"p50": statistics.median(times), "p95": percentile(times, 95), "calls": statistics.median(calls),
                "body": last.json()}

    def listing_floor(self, body: dict[str, Any]) -> float:
        distinct = {line["producto_id"] for c in body["compras"] for line in c["productos_detalle"]}
        return self.args.latency_ms * (1 + math.ceil(len(distinct) / self.args.concurrency))

    def run(self) -> list[dict[str, Any]]:
        rows = []
        admin = self.admin_token()
        for workload in self.args.workloads.split(","):
            purchases, distinct = (int(x) for x in workload.split("x"))
            self.reset()
            token = self.customer(purchases, distinct)
            for label, path, who in (("GET /compras/me", "/compras/me", token),
                                     ("GET /compras/all", "/compras/all", admin)):
                result = self.measure("GET", path, who)
                body = result["body"]
                distinct_seen = len({ln["producto_id"] for c in body["compras"] for ln in c["productos_detalle"]})
                rows.append({"caso": label, "carga": f"{len(body['compras'])} compras x {distinct_seen} productos",
                             **result, "floor": self.listing_floor(body)})
        self.reset()
        catalogue = self.http.get(self.products + "/api/productos/paged", params={"pagesize": 500}, timeout=30).json()
        cheap = [p["id"] for p in catalogue["productos"] if not p["requiere_receta"] and p["stock"] >= 100][:3]
        body = {"productos": [{"producto_id": pid, "cantidad": 1} for pid in cheap]}
        result = self.measure("POST", "/compras", admin, body)
        rows.append({"caso": "POST /compras", "carga": "3 líneas", **result, "floor": 4 * self.args.latency_ms})
        return rows

    def throughput(self, token: str) -> dict[str, float]:
        headers = {"Authorization": f"Bearer {token}"}
        url = self.base + "/compras/me"
        per_client = self.args.throughput_requests

        def client() -> list[float]:
            session = requests.Session()
            times = []
            for _ in range(per_client):
                started = time.perf_counter()
                session.get(url, headers=headers, timeout=120).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            return times

        started = time.perf_counter()
        with ThreadPoolExecutor(self.args.clients) as pool:
            results = [t for times in pool.map(lambda _: client(), range(self.args.clients)) for t in times]
        elapsed = time.perf_counter() - started
        return {"rps": len(results) / elapsed, "p50": statistics.median(results), "p95": percentile(results, 95),
                "n": len(results)}


def render(args: argparse.Namespace, rows: list[dict[str, Any]], tput: dict[str, float] | None) -> str:
    lines = [
        f"Latencia inyectada por llamada upstream: {args.latency_ms} ms (jitter {args.jitter_ms} ms); "
        f"UPSTREAM_MAX_CONCURRENCY={args.concurrency}; PRODUCT_CACHE_SECONDS={args.product_cache_seconds}; "
        f"{args.repeat} repeticiones tras 1 de calentamiento.",
        "",
        "| caso | carga | p50 ms | p95 ms | llamadas upstream | piso ms | p50 / piso |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = f"{row['p50'] / row['floor']:.2f}" if row["floor"] else "–"
        lines.append(f"| {row['caso']} | {row['carga']} | {row['p50']:.1f} | {row['p95']:.1f} | {row['calls']:.0f} "
                     f"| {row['floor']:.0f} | {ratio} |")
    if tput:
        lines += ["", f"Rendimiento con {args.clients} clientes concurrentes (GET /compras/me, 100x30, gunicorn "
                      f"{args.workers} worker(s) x {args.threads} hilos): {tput['rps']:.1f} sol/s, "
                      f"p50 {tput['p50']:.1f} ms, p95 {tput['p95']:.1f} ms ({tput['n']:.0f} solicitudes)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--jitter-ms", type=float, default=0)
    parser.add_argument("--workloads", default="10x5,100x30,1000x200")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=16, help="UPSTREAM_MAX_CONCURRENCY")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--throughput-requests", type=int, default=20, help="per client")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--cache-url", default="")
    parser.add_argument("--product-cache-seconds", type=int, default=0,
                        help="PRODUCT_CACHE_SECONDS of the orchestrator (listing cache; 0 = off)")
    parser.add_argument("--write", default="", help="also write the table into this Markdown file")
    parser.add_argument("--append", action="store_true", help="with --write: add a section instead of replacing")
    args = parser.parse_args(argv)

    bench = Bench(args)
    bench.start()
    try:
        rows = bench.run()
        bench.reset()
        tput = bench.throughput(bench.customer(100, 30)) if args.clients else None
    finally:
        bench.stop()
    table = render(args, rows, tput)
    print(table)
    if args.write:
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        section = "Generado con `" + command.strip() + "`.\n\n" + table
        path = Path(args.write)
        if args.append and path.exists():
            path.write_text(path.read_text(encoding="utf-8") + "\n" + section, encoding="utf-8")
        else:
            path.write_text("# Rendimiento\n\n" + section, encoding="utf-8")

if __name__ == "__main__":
    main()
