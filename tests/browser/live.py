"""The orchestrator served over real HTTP from a thread, for the browser tests and the screenshots.

pytest-django's `live_server` needs a database, which the orchestrator does not have: this is the
same idea (Django's threaded WSGI server) without one. Static files are served as `runserver` does.
"""
from __future__ import annotations

import threading

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


class LiveOrchestrator:
    """`with LiveOrchestrator() as live: live.url` -> "http://127.0.0.1:<free port>"."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._server: ThreadedWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> LiveOrchestrator:
        self._server = ThreadedWSGIServer((self.host, self.port), _QuietHandler, allow_reuse_address=False)
        self._server.set_app(StaticFilesHandler(get_wsgi_application()))
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-orchestrator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LiveOrchestrator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def reviewable_prescription(sandbox: object, *, valid: bool = True) -> str:
    """A pending prescription of the demo customer: one that passes every check (`valid`), or one
    signed by a doctor whose licence is not valid."""
    from sandbox import seed

    pending = sandbox.prescriptions.filter(dni=seed.ANA_DNI, estado="pendiente")
    chosen = [p for p in pending if (p["medicoCMP"] in seed.INVALID_DOCTORS) != valid]
    return chosen[0]["_id"]
