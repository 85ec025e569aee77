"""Template context shared by every dashboard page."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def current_user(request: HttpRequest) -> dict[str, Any]:
    return {"current_user": getattr(request, "dashboard_user", None)}
