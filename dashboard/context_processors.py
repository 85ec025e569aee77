"""Template context shared by every dashboard page."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from dashboard.session import session_token, session_user


def current_user(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "dashboard_user", None)
    if user is None and hasattr(request, "session") and session_token(request):
        # Pages rendered without a dashboard view (an unknown URL's 404, a CSRF failure) keep the
        # signed-in header, so the person still has the navigation and the sign-out button.
        user = session_user(request)
    return {"current_user": user}
