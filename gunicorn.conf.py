"""gunicorn settings, from the environment: NOT the production server any more.

`run_server.sh` serves with `portal/serve.py` (waitress; docs/server.md says why). This file only
lets `python -m bench --server gunicorn` and `python -m bench.connections --server gunicorn-gthread`
measure the server used before, for comparison.

With the default local-memory cache, stock locks and idempotency keys live in one process: keep
one worker (threads serve concurrency). With CACHE_URL=redis://... raise WEB_CONCURRENCY freely.
More than one worker over a process-local cache refuses to start (portal.scaleout).
"""
import glob
import os
import shutil
import tempfile

from portal.scaleout import refuse_unsafe_scale_out

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8888")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
refuse_unsafe_scale_out(workers)
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
keepalive = 5
accesslog = None  # the orchestrator logs one line per request itself, with the request id
errorlog = "-"

# Prometheus metrics with several workers: each worker writes its samples to files in this directory
# and /metrics, whichever worker answers, adds them up. Set before the workers start; emptied here,
# since files of a previous run would add to this one's counts.
_created_metrics_dir = None
if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _created_metrics_dir = tempfile.mkdtemp(prefix="orquestador-metricas-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_metrics_dir
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    for _stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(_stale)


def child_exit(server, worker):
    """A dead worker's gauges (circuit breaker state) stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
