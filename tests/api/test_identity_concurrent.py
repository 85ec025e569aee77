"""The identity call off the critical path: concurrent with the listing's first stage, refreshed ahead of expiry."""
from __future__ import annotations

import json
import time

from django.core.cache import cache

from dashboard.auth import _fresh_key, token_cache_key
from tests.api.test_security import SECRET, make_token
from tests.conftest import USERS
from tests.payloads import user_payload
from tests.services.test_purchases_support import Overlap

MINE = f"{USERS}/api/compras/me"
ME = f"{USERS}/api/user/me"


def get_mine(client, token):
    return client.get("/api/orchestrator/compras/me", HTTP_AUTHORIZATION=f"Bearer {token}")


def me_and_purchases(mocked, overlap: Overlap | None = None, me_status: int = 200) -> None:
    wrap = overlap.wrap if overlap else (lambda cb: cb)
    mocked.add_callback("GET", ME, callback=wrap(
        lambda _r: (me_status, {}, json.dumps(user_payload() if me_status == 200 else {"error": "Forbidden"}))))
    mocked.add_callback("GET", MINE, callback=wrap(lambda _r: (200, {}, "[]")))


def test_a_new_tokens_identity_call_runs_alongside_the_listing(client, mocked, settings):
    settings.JWT_SECRET = SECRET
    overlap = Overlap(2)  # both calls must be in flight at once, or the barrier breaks
    me_and_purchases(mocked, overlap)
    response = get_mine(client, make_token())
    assert response.status_code == 200 and overlap.max_in_flight == 2


def test_the_deferred_identity_is_cached_and_not_asked_again(client, mocked, settings):
    settings.JWT_SECRET = SECRET
    me_and_purchases(mocked)
    token = make_token()
    get_mine(client, token)
    get_mine(client, token)
    assert sum(1 for c in mocked.calls if c.request.url == ME) == 1


def test_a_token_the_users_service_refuses_is_still_a_401(client, mocked, settings):
    settings.JWT_SECRET = SECRET
    me_and_purchases(mocked, me_status=403)
    response = get_mine(client, make_token())
    assert response.status_code == 401


def test_without_jwt_secret_the_identity_call_comes_first(client, mocked, settings):
    settings.JWT_SECRET = ""
    me_and_purchases(mocked, me_status=403)
    response = get_mine(client, make_token())
    assert response.status_code == 401
    assert [c.request.url for c in mocked.calls] == [ME]  # nothing done for a token nobody checked


def test_a_stale_identity_is_refreshed_in_the_background_and_served_meanwhile(client, mocked, settings):
    settings.JWT_SECRET = SECRET
    me_and_purchases(mocked)
    token = make_token()
    get_mine(client, token)
    cache.delete(_fresh_key(token_cache_key(token)))  # past 3/4 of ME_CACHE_SECONDS
    assert get_mine(client, token).status_code == 200
    deadline = time.monotonic() + 5
    while sum(1 for c in mocked.calls if c.request.url == ME) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(1 for c in mocked.calls if c.request.url == ME) == 2
    get_mine(client, token)  # fresh again: no third call
    time.sleep(0.05)
    assert sum(1 for c in mocked.calls if c.request.url == ME) == 2


def test_admin_listings_still_confirm_the_role_first(client, mocked, settings):
    settings.JWT_SECRET = SECRET
    mocked.get(ME, json=user_payload(role="CLIENTE"))
    response = client.get("/api/orchestrator/compras/all",
                          HTTP_AUTHORIZATION=f"Bearer {make_token(role='ADMIN')}")  # the claim says ADMIN
    assert response.status_code == 403 and [c.request.url for c in mocked.calls] == [ME]
