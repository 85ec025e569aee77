"""Small helpers every dashboard view uses: page or fragment, and optional upstream parts."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.http import HttpRequest

from dashboard.errors import OrchestratorError

T = TypeVar("T")


def wants_fragment(request: HttpRequest) -> bool:
    """True for an htmx request that swaps part of the page.

    htmx restoring history after a cache miss asks for the URL with `HX-Request` too, but wants the
    whole page back.
    """
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def optional(call: Callable[[], T], banners: list[str], default: T | None = None) -> T | None:
    """Run `call` for a part of a page that can be missing: an upstream outage becomes a banner.

    Anything else (a 4xx, a permission error) still propagates to the error middleware.
    """
    try:
        return call()
    except OrchestratorError as exc:
        if exc.status < 500:
            raise
        if exc.message not in banners:
            banners.append(exc.message)
        return default
