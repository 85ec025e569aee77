"""Benchmark: the orchestrator beside the physical floor, a bare all-at-once client and a naive baseline.

    python -m bench [--latency-ms 20] [--workloads 10x5,100x38,1000x200] [--large 20000] [--repeat 20]
                    [--clients 16] [--write docs/performance.md]

Starts the sandbox (subprocess, `--latency-ms` injected into every upstream call) and two
orchestrators (subprocesses served as run_server.sh serves them, `python -m portal.serve`; `--server
gunicorn|granian` to compare; loopback only, free ports), both in the default configuration
plus JWT_SECRET: "por defecto" as shipped (PRODUCT_CACHE_SECONDS=5), and "en frío" with the listing
cache off (PRODUCT_CACHE_SECONDS=0: every listing fetches every product; the honest worst case).
For each case, in this same process and against the same sandbox:
- floor: the round trips that cannot be avoided, times the latency (a listing: purchases, then
  its products = 2; a purchase: reads, stock writes, register = 3);
- bare: a minimal client making exactly the unavoidable calls, each stage all at once (urllib3,
  one thread per call), parsing and joining the data but serving nobody;
- naive: one call per line, sequentially, like the original orchestrator (only where it takes
  seconds, not minutes: up to 100 purchases);
and the orchestrator's CPU per request (its worker processes' user+system time over the requests).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import requests
import urllib3

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
ADMIN_DNI = "40123456"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
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


def token(dni: str, role: str, salt: int = 0) -> str:
    """A token like the users service's (same secret); `salt` makes it new (a cold identity cache)."""
    now = int(time.time())
    return jwt.encode({"role": role, "sub": dni, "iat": now, "exp": now + 3600 + salt}, JWT_SECRET, algorithm="HS256")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


class BareClient:
    """The unavoidable calls, each stage all at once: no server, no checks, no logs."""

    def __init__(self, users: str, products: str, prescriptions: str) -> None:
        self.users, self.products, self.prescriptions = users, products, prescriptions
        self.http = urllib3.PoolManager(maxsize=128)
        self.pool = ThreadPoolExecutor(128)

    def get(self, url: str, token_: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token_}"} if token_ else {}
        return json.loads(self.http.request("GET", url, headers=headers).data)

    def listing(self, token_: str, path: str) -> list[dict[str, Any]]:
        purchases = self.get(self.users + path, token_)
        ids = sorted({pid for p in purchases for pid in p["productos"]})
        products = dict(zip(ids, self.pool.map(lambda pid: self.get(f"{self.products}/api/productos/{pid}"), ids),
                            strict=True))
        return [{**p, "productos_detalle": [{**products[pid], "cantidad": qty}
                                            for pid, qty in zip(p["productos"], p["cantidades"], strict=True)]}
                for p in purchases]

    def naive_listing(self, token_: str, path: str) -> int:
        """The original orchestrator: who am I, my purchases, then one product call per line, in turn."""
        self.get(self.users + "/api/user/me", token_)
        calls = 2
        for purchase in self.get(self.users + path, token_):
            for pid in purchase["productos"]:
                self.get(f"{self.products}/api/productos/{pid}")
                calls += 1
        return calls

    def purchase(self, token_: str, dni: str, lines: list[int], *, naive: bool = False) -> None:
        reads: list[Callable[[], Any]] = [lambda pid=pid: self.get(f"{self.products}/api/productos/{pid}")
                                          for pid in lines]
        reads += [lambda: self.get(self.products + "/api/ofertas/all"),
                  lambda: self.get(f"{self.prescriptions}/api/recetas/filter?dni={dni}&estado=validada&pagesize=100")]
        def run(calls: list[Callable[[], Any]]) -> list[Any]:
            return [c() for c in calls] if naive else list(self.pool.map(lambda c: c(), calls))

        products = run(reads)[:len(lines)]

        def put(product: dict[str, Any]) -> Any:
            body = json.dumps({"stock": product["stock"] - 1})
            return self.http.request("PUT", f"{self.products}/api/productos/{product['id']}", body=body,
                                     headers={"Content-Type": "application/json"})

        run([lambda p=p: put(p) for p in products])
        body = json.dumps({"productos": lines, "cantidades": [1] * len(lines)})
        answer = self.http.request("POST", self.users + "/api/compras", body=body,
                                   headers={"Content-Type": "application/json", "Authorization": f"Bearer {token_}"})
        if answer.status >= 300:
            raise RuntimeError(f"bare purchase answered {answer.status}")


SERVER_LABELS = {"default": "waitress (portal.serve)", "gunicorn": "gunicorn gthread", "granian": "granian WSGI"}


def server_command(server: str, port: int) -> list[str]:
    """The orchestrator's server: portal.serve (production), or the others measured in docs/server.md."""
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "portal.wsgi", "-c", "gunicorn.conf.py",
                "--bind", f"127.0.0.1:{port}"]
    if server == "granian":
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--blocking-threads", "16", "--no-ws", "portal.wsgi:application"]
    return [sys.executable, "-m", "portal.serve", "--bind", f"127.0.0.1:{port}"]


class Orchestrator:
    def __init__(self, name: str, env: dict[str, str], server: str = "default") -> None:
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/orchestrator"
        self.proc = subprocess.Popen(server_command(server, self.port), cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def workers(self) -> list[int]:
        return children(self.proc.pid) or [self.proc.pid]

    def cpu(self) -> float:
        return cpu_seconds(self.workers())


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ports = [free_port() for _ in range(3)]
        self.users, self.products, self.prescriptions = (f"http://127.0.0.1:{p}" for p in self.ports)
        self.http = requests.Session()
        self.procs: list[subprocess.Popen] = []
        self.bare = BareClient(self.users, self.products, self.prescriptions)
        self.salt = 0

    # -- processes -------------------------------------------------------------------------------
    def start(self) -> None:
        env = {**os.environ, "JWT_SECRET": JWT_SECRET}
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--quiet", "--users-port", str(self.ports[0]),
             "--products-port", str(self.ports[1]), "--prescriptions-port", str(self.ports[2])],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
        for url in (self.users, self.products, self.prescriptions):
            wait_for(url + "/__sandbox__/state")
        # The default configuration, but for what a bench on loopback must set: the upstreams, a secret
        # key, JWT_SECRET (item: no identity call), no rate limit in the way, stdout not in the way.
        env.update({"URL_USUARIOS_COMPRAS": self.users, "URL_PRODUCTOS_OFERTAS": self.products,
                    "URL_RECETAS_MEDICOS": self.prescriptions, "SECRET_KEY": secrets.token_urlsafe(50),
                    "DEBUG": "False", "API_RATE_LIMIT": "1000000", "API_RATE_LIMIT_PER_ADDRESS": "1000000",
                    "WEB_CONCURRENCY": "1"})
        # Their own purchase journals, in a folder removed at the end (not the checkout's var/).
        self.scratch = tempfile.TemporaryDirectory(prefix="bench-")
        env["PURCHASE_JOURNAL"] = str(Path(self.scratch.name) / "diario-por-defecto.jsonl")
        for key in ("PRODUCT_CACHE_SECONDS", "UPSTREAM_MAX_CONCURRENCY", "UPSTREAM_REQUEST_FANOUT", "LOG_LEVEL"):
            env.pop(key, None)
        self.default = Orchestrator("por defecto", env, self.args.server)
        self.cold = Orchestrator("en frío", {**env, "PRODUCT_CACHE_SECONDS": "0",
                                             "PURCHASE_JOURNAL": str(Path(self.scratch.name) / "diario-en-frio.jsonl")},
                                 self.args.server)
        self.procs += [self.default.proc, self.cold.proc]
        for orchestrator in (self.default, self.cold):
            wait_for(orchestrator.base + "/health")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)
        if getattr(self, "scratch", None) is not None:
            self.scratch.cleanup()

    # -- sandbox helpers -------------------------------------------------------------------------
    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, self.users + "/__sandbox__/" + path, timeout=120, **kwargs)
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

    def customer(self, purchases: int, distinct: int) -> tuple[str, str]:
        dni = f"9{secrets.randbelow(10**7):07d}"
        body = {"email": f"bench{dni}@example.com", "password": "Bench123!", "nombre": "Carga",
                "apellido": "Prueba", "dni": dni, "distrito": "Lince"}
        self.http.post(self.users + "/api/auth/register", json=body, timeout=30).raise_for_status()
        self.control("POST", "workload", json={"dni": dni, "compras": purchases, "productos_distintos": distinct})
        return dni, token(dni, "CLIENTE")

    def fresh_token(self, dni: str, role: str) -> str:
        self.salt += 1
        return token(dni, role, self.salt)

    # -- measuring -------------------------------------------------------------------------------
    def timed(self, work: Callable[[], Any], repeat: int) -> list[float]:
        work()  # warm-up
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            work()
            times.append((time.perf_counter() - started) * 1000)
        return times

    def orchestrated(self, orchestrator: Orchestrator, method: str, path: str, who: Callable[[], str],
                     body: Any = None, repeat: int | None = None) -> dict[str, Any]:
        repeat = repeat or self.args.repeat
        last: dict[str, Any] = {}

        def once() -> None:
            response = self.http.request(method, orchestrator.base + path, json=body, timeout=120,
                                         headers={"Authorization": f"Bearer {who()}"})
            if response.status_code >= 300:
                raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
            last["body"] = response.content

        once()
        calls_before, cpu_before = self.upstream_calls(), orchestrator.cpu()
        times = self.timed(once, repeat)
        cpu = orchestrator.cpu() - cpu_before
        calls = (self.upstream_calls() - calls_before) / (repeat + 1)  # the warm-up in timed() included
        return {"p50": statistics.median(times), "p95": percentile(times, 95), "calls": calls,
                "cpu_ms": cpu * 1000 / (repeat + 1), "body": json.loads(last["body"])}

    def listing_case(self, label: str, path: str, upstream_path: str, who: str, dni_role: tuple[str, str],
                     purchases: int, repeat: int) -> dict[str, Any]:
        cold = self.orchestrated(self.cold, "GET", path, lambda: who, repeat=repeat)
        default = self.orchestrated(self.default, "GET", path, lambda: who, repeat=repeat)
        bare = self.timed(lambda: self.bare.listing(who, upstream_path), repeat)
        naive = (self.timed(lambda: self.bare.naive_listing(who, upstream_path), self.args.naive_repeat)
                 if purchases <= self.args.naive_max else None)
        compras = cold["body"]["compras"]
        distinct = len({d["producto_id"] for c in compras for d in c["productos_detalle"]})
        return {"caso": label, "carga": f"{len(compras)} compras x {distinct} productos",
                "p50": cold["p50"], "p95": cold["p95"], "calls": cold["calls"], "cpu_ms": cold["cpu_ms"],
                "default_p50": default["p50"], "bare": statistics.median(bare),
                "naive": statistics.median(naive) if naive else None, "floor": 2 * self.args.latency_ms}

    def run(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        extra: dict[str, Any] = {}
        admin = token(ADMIN_DNI, "ADMIN")
        # CPU per call first, while the sandbox has no latency injected yet.
        measured = subprocess.run([sys.executable, "-m", "bench.calls", self.products, "--calls", "1000"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=300, check=True)
        extra["calls_cpu"] = json.loads(measured.stdout)
        for workload in self.args.workloads.split(","):
            purchases, distinct = (int(x) for x in workload.split("x"))
            self.reset()
            dni, customer = self.customer(purchases, distinct)
            rows.append(self.listing_case("GET /compras/me", "/compras/me", "/api/compras/me", customer,
                                          (dni, "CLIENTE"), purchases, self.args.repeat))
            if workload == self.args.identity_workload:
                # A new token every time: no cached identity, so /api/user/me is on the path (or beside it).
                first = self.orchestrated(self.cold, "GET", "/compras/me",
                                          lambda dni=dni: self.fresh_token(dni, "CLIENTE"))
                rows.append({**rows[-1], "caso": "GET /compras/me, token nuevo", "p50": first["p50"],
                             "p95": first["p95"], "calls": first["calls"], "cpu_ms": first["cpu_ms"],
                             "default_p50": None, "naive": None})
                if self.args.throughput_requests > 0:  # 0: skip the throughput runs
                    extra["throughput"] = {name: self.throughput(orchestrator, customer)
                                           for name, orchestrator in (("por defecto", self.default),
                                                                      ("en frío", self.cold))}
        if self.args.large:
            self.reset()
            self.customer(self.args.large, 38)
            rows.append(self.listing_case("GET /compras/all", "/compras/all", "/api/compras/all", admin,
                                          (ADMIN_DNI, "ADMIN"), self.args.large, self.args.large_repeat))
        rows.append(self.purchase_case(admin))
        return rows, extra

    def purchase_case(self, admin: str) -> dict[str, Any]:
        self.reset()
        catalogue = self.http.get(self.products + "/api/productos/paged", params={"pagesize": 500}, timeout=30).json()
        cheap = [p["id"] for p in catalogue["productos"] if not p["requiere_receta"] and p["stock"] >= 100][:3]
        body = {"productos": [{"producto_id": pid, "cantidad": 1} for pid in cheap]}
        repeat = min(self.args.repeat, 20)
        result = self.orchestrated(self.default, "POST", "/compras", lambda: admin, body, repeat=repeat)
        bare = self.timed(lambda: self.bare.purchase(admin, ADMIN_DNI, cheap), repeat)
        naive = self.timed(lambda: self.bare.purchase(admin, ADMIN_DNI, cheap, naive=True), 3)
        return {"caso": "POST /compras", "carga": "3 líneas",
                **{k: result[k] for k in ("p50", "p95", "calls", "cpu_ms")},
                "default_p50": None, "bare": statistics.median(bare), "naive": statistics.median(naive),
                "floor": 3 * self.args.latency_ms}

    def throughput(self, orchestrator: Orchestrator, token_: str) -> dict[str, float]:
        url = orchestrator.base + "/compras/me"
        per_client = self.args.throughput_requests
        errors = [0]

        def client() -> list[float]:
            session = requests.Session()
            times = []
            for _ in range(per_client):
                started = time.perf_counter()
                response = session.get(url, headers={"Authorization": f"Bearer {token_}"}, timeout=120)
                if response.status_code != 200:
                    errors[0] += 1
                times.append((time.perf_counter() - started) * 1000)
            return times

        cpu_before = orchestrator.cpu()
        started = time.perf_counter()
        with ThreadPoolExecutor(self.args.clients) as pool:
            results = [t for times in pool.map(lambda _: client(), range(self.args.clients)) for t in times]
        elapsed = time.perf_counter() - started
        return {"rps": len(results) / elapsed, "p50": statistics.median(results), "p95": percentile(results, 95),
                "n": len(results), "errors": errors[0],
                "cpu_ms": (orchestrator.cpu() - cpu_before) * 1000 / len(results)}


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}"


def render(args: argparse.Namespace, rows: list[dict[str, Any]], extra: dict[str, Any]) -> str:
    lines = [
        f"Latencia inyectada por llamada upstream: {args.latency_ms} ms (jitter {args.jitter_ms} ms); configuración "
        f"por defecto + JWT_SECRET, {SERVER_LABELS[args.server]}, 1 proceso; {args.repeat} repeticiones tras 1 de "
        f"calentamiento "
        f"({args.large_repeat} en la carga grande; el ingenuo {args.naive_repeat}).",
        "",
        "Orquestador en frío (`PRODUCT_CACHE_SECONDS=0`: cada listado lee todos sus productos) frente al piso, "
        "al cliente mínimo (todo a la vez) y al ingenuo (una llamada por línea, en serie); \"por defecto\" es "
        "el mismo orquestador con la caché de listados de 5 s.",
        "",
        "| caso | carga | p50 ms | p95 ms | llamadas | CPU ms/sol | piso ms | mínimo ms | ingenuo ms "
        "| p50 / mínimo | p50 / piso | ingenuo / p50 | por defecto p50 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['caso']} | {row['carga']} | {row['p50']:.1f} | {row['p95']:.1f} | {row['calls']:.0f} "
            f"| {row['cpu_ms']:.1f} | {row['floor']:.0f} | {_ms(row['bare'])} | {_ms(row['naive'])} "
            f"| {_ratio(row['p50'], row['bare'])} | {_ratio(row['p50'], row['floor'])} "
            f"| {_ratio(row['naive'], row['p50'])} | {_ms(row['default_p50'])} |")
    if "calls_cpu" in extra:
        cpu = extra["calls_cpu"]
        lines += ["", f"CPU por llamada upstream (una a la vez, sin latencia, `python -m bench.calls`): orquestador "
                      f"{cpu['orquestador']:.3f} ms, `requests` a secas {cpu['requests']:.3f} ms, urllib3 a secas "
                      f"{cpu['urllib3']:.3f} ms."]
    for name, tput in extra.get("throughput", {}).items():
        lines += ["", f"Rendimiento {name} con {args.clients} clientes concurrentes (GET /compras/me, "
                      f"{args.identity_workload}): {tput['rps']:.1f} sol/s, p50 {tput['p50']:.1f} ms, "
                      f"p95 {tput['p95']:.1f} ms, {tput['errors']} errores en {tput['n']:.0f} solicitudes, "
                      f"CPU {tput['cpu_ms']:.1f} ms/sol."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=sorted(SERVER_LABELS), default="default",
                        help="default: python -m portal.serve (waitress), as run_server.sh; the others to compare")
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--jitter-ms", type=float, default=0)
    parser.add_argument("--workloads", default="10x5,100x38,1000x200", help="purchases x distinct products")
    parser.add_argument("--identity-workload", default="100x38",
                        help="the workload also measured with a new token per request, and for throughput")
    parser.add_argument("--large", type=int, default=20000, help="purchases of the /compras/all case (0: skip)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--large-repeat", type=int, default=5)
    parser.add_argument("--naive-repeat", type=int, default=3)
    parser.add_argument("--naive-max", type=int, default=100, help="run the naive baseline up to this many purchases")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--throughput-requests", type=int, default=20, help="per client (0: no throughput run)")
    parser.add_argument("--write", default="", help="also write the table into this Markdown file")
    args = parser.parse_args(argv)

    started = time.monotonic()
    bench = Bench(args)
    bench.start()
    try:
        rows, extra = bench.run()
    finally:
        bench.stop()
    table = render(args, rows, extra)
    print(table)
    print(f"({time.monotonic() - started:.0f} s)")
    if args.write:
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        section = "Generado con `" + command.strip() + "`.\n\n" + table
        path = Path(args.write)
        text = path.read_text(encoding="utf-8") if path.exists() else "# Rendimiento\n"
        marker = "<!-- bench -->"
        head = text.split(marker)[0].rstrip() + "\n\n" if marker in text else text.rstrip() + "\n\n"
        path.write_text(head + marker + "\n" + section, encoding="utf-8")


if __name__ == "__main__":
    main()
