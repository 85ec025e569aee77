"""gunicorn settings, from the environment.

With the default local-memory cache, stock locks and idempotency keys live in one process: keep
one worker (threads serve concurrency). With CACHE_URL=redis://... raise WEB_CONCURRENCY freely.
More than one worker over a process-local cache refuses to start (portal.scaleout).
"""
import os

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
