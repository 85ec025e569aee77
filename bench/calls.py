"""CPU per upstream call: the orchestrator's client beside bare `requests` and bare urllib3, in turn.

    python -m bench.calls PRODUCTS_URL [--calls 2000]

Run by `python -m bench` in a subprocess (its own Django settings) against the sandbox; prints one
JSON object: CPU ms per call (process time, so the sandbox is not counted) for each client.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable


def cpu_per_call(call: Callable[[], object], calls: int) -> float:
    for _ in range(min(200, calls)):
        call()
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) * 1000 / calls


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.calls")
    parser.add_argument("products_url")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    os.environ.update(DJANGO_SETTINGS_MODULE="portal.settings", SECRET_KEY=secrets.token_urlsafe(50), DEBUG="False",
                      URL_PRODUCTOS_OFERTAS=args.products_url)
    import django

    django.setup()
    import requests
    import urllib3

    from dashboard import context
    from dashboard.clients.products import ProductsClient

    context.begin("bench-calls")  # as inside a request: its ids, its trace, no deadline

    url = args.products_url.rstrip("/") + "/api/productos/1"
    client, session, pool = ProductsClient(), requests.Session(), urllib3.PoolManager()
    results = {}
    for _round in range(2):  # the better of two rounds each: the machine is shared
        for name, call in (("orquestador", lambda: client.product_get(1)),
                           ("requests", lambda: session.get(url, timeout=5).json()),
                           ("urllib3", lambda: json.loads(pool.request("GET", url).data))):
            value = cpu_per_call(call, args.calls)
            results[name] = min(results.get(name, value), value)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
