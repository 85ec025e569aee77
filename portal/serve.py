"""The production server: waitress serving `portal.wsgi`, configured from the environment.

    python -m portal.serve [--bind 127.0.0.1:8888]

Why waitress (measured in docs/server.md): it reads every request, headers and body, in its I/O
loop and hands a worker thread only a complete request, so idle or trickling connections cost a
socket, never a thread; and its refusals (header limits, bodies past the server's cap, malformed
requests) go through a task class we can replace, so they answer in the API's JSON shape.

Every setting of the server is decided here, in `config()`: bind, threads, worker processes,
limits. `WEB_CONCURRENCY` > 1 forks that many processes sharing one listening socket, and is refused
over a process-local cache (`portal.scaleout`); their Prometheus samples go to PROMETHEUS_MULTIPROC_DIR
(a temporary directory unless set, emptied at start) for /metrics to add up.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

DEFAULT_BIND = "0.0.0.0:8888"


@dataclass(frozen=True)
class ServerConfig:
    bind: str
    workers: int  # processes; the one place where their number is decided
    threads: int  # per process
    connection_limit: int  # open connections per process (idle ones cost a socket, not a thread)
    channel_timeout: int  # seconds an idle or stalled connection is kept
    max_request_header_size: int  # request line + headers, bytes: larger -> 431 (JSON)
    max_request_body_size: int  # bytes buffered at most: larger -> 413 (JSON); the app's own limit is lower


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, "") or default)


def config(bind: str | None = None) -> ServerConfig:
    max_body = _int("MAX_BODY_BYTES", 64 * 1024)
    return ServerConfig(
        bind=bind or os.environ.get("SERVER_BIND", "") or DEFAULT_BIND,
        workers=_int("WEB_CONCURRENCY", 1),
        threads=_int("SERVER_THREADS", 16),
        connection_limit=_int("SERVER_CONNECTION_LIMIT", 1000),
        channel_timeout=_int("SERVER_CHANNEL_TIMEOUT", 30),
        max_request_header_size=_int("SERVER_MAX_HEADER_BYTES", 64 * 1024),
        # Above the app's MAX_BODY_BYTES, so the app answers 413 itself (with CORS headers); the
        # server's cap only bounds what it buffers.
        max_request_body_size=max(4 * max_body, 1024 * 1024),
    )


# JSON refusals ---------------------------------------------------------------------------------------
_REFUSALS = {
    400: ("Solicitud inválida", "solicitud_invalida"),
    413: ("El cuerpo de la solicitud es demasiado grande", "cuerpo_demasiado_grande"),
    431: ("Las cabeceras de la solicitud son demasiado grandes", "cabeceras_demasiado_grandes"),
    501: ("Método o codificación no soportados", "no_soportado"),
}


def refusal_body(code: int) -> bytes:
    from django.utils.translation import gettext

    message, machine = _REFUSALS.get(code, ("Solicitud inválida", "solicitud_invalida"))
    return json.dumps({"error": gettext(message), "details": {"code": machine}}, ensure_ascii=False).encode()


def _install_json_refusals() -> None:
    """Waitress's own refusals (before the app sees the request) in the API's JSON error shape."""
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            body = refusal_body(error.code)
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json; charset=utf-8"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    HTTPChannel.error_task_class = JsonErrorTask


# Processes -------------------------------------------------------------------------------------------
def _listen(bind: str) -> socket.socket:
    host, _, port = bind.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - the documented default binds every interface
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(1024)
    return sock


def _serve(cfg: ServerConfig, sock: socket.socket) -> None:
    from waitress import serve

    from portal.wsgi import application

    _install_json_refusals()
    serve(application, sockets=[sock], threads=cfg.threads, connection_limit=cfg.connection_limit,
          channel_timeout=cfg.channel_timeout, max_request_header_size=cfg.max_request_header_size,
          max_request_body_size=cfg.max_request_body_size, ident="orquestador", asyncore_use_poll=True,
          clear_untrusted_proxy_headers=False, _quiet=True)


def _fork_workers(cfg: ServerConfig, sock: socket.socket) -> None:
    """`cfg.workers` processes accepting on the same socket; one that dies is started again."""
    children: dict[int, int] = {}
    stopping = False

    def start(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                _serve(cfg, sock)
            finally:
                os._exit(0)
        children[pid] = slot

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(cfg.workers):
        start(slot)
    while children:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        slot = children.pop(pid, None)
        if slot is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid)  # a dead worker's gauges (breaker state) stop counting
        if slot is not None and not stopping:
            time.sleep(0.5)
            start(slot)


def _metrics_dir(workers: int) -> str | None:
    """With several processes, where each writes its metrics; returns the directory created here, if any."""
    created = None
    if workers <= 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        created = tempfile.mkdtemp(prefix="orquestador-metricas-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    for stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(stale)  # a previous run's counts would add to this one's
    return created


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m portal.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bind", help=f"host:port (default SERVER_BIND or {DEFAULT_BIND})")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    cfg = config(args.bind)
    if cfg.workers < 1 or cfg.threads < 1:
        sys.exit("WEB_CONCURRENCY y SERVER_THREADS deben ser al menos 1")
    # Before anything imports prometheus_client: it picks per-process files from this variable at import.
    created = _metrics_dir(cfg.workers)
    try:
        from portal.scaleout import refuse_unsafe_scale_out

        refuse_unsafe_scale_out(cfg.workers)  # several processes over a process-local cache: refused
        sock = _listen(cfg.bind)
        print(f"orquestador: waitress en {cfg.bind}, {cfg.workers} proceso(s) x {cfg.threads} hilos",
              file=sys.stderr, flush=True)
        if cfg.workers == 1:
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
            try:
                _serve(cfg, sock)
            except KeyboardInterrupt:
                pass
            return
        _fork_workers(cfg, sock)
    finally:
        if created:
            shutil.rmtree(created, ignore_errors=True)


if __name__ == "__main__":
    main()
