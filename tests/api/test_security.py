"""Edge protections: body size, rate limit, security headers, caller identification."""
from __future__ import annotations

import time

import jwt
import pytest
from django.test import RequestFactory

from dashboard.auth import api_caller
from dashboard.errors import InvalidToken, NotAuthenticated, PermissionDenied
from tests.conftest import USERS
from tests.payloads import user_payload

SECRET = "s" * 40


def make_token(*, secret: str = SECRET, exp_in: int = 3600, role: str = "CLIENTE", sub: str = "72345678") -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "role": role, "iat": now, "exp": now + exp_in}, secret, algorithm="HS256")


def api_request(token: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return RequestFactory().get("/api/orchestrator/compras/me", **headers)


def test_oversized_body_answers_json_413(client):
    response = client.post("/api/orchestrator/compras", data="x" * 70_000, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["details"]["code"] == "cuerpo_demasiado_grande"


def test_api_rate_limit_answers_429_with_retry_after(client, settings):
    settings.API_RATE_LIMIT_PER_ADDRESS = 3
    statuses = [client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.9.9.9").status_code for _ in range(4)]
    assert statuses[3] == 429 and 429 not in statuses[:3]
    response = client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.9.9.9")
    assert int(response["Retry-After"]) >= 1
    assert response.json()["details"]["code"] == "demasiadas_solicitudes"
    # Another client still has its own budget, and health checks are never limited.
    assert client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.9.9.8").status_code != 429
    assert client.get("/api/orchestrator/health", REMOTE_ADDR="10.9.9.9").status_code == 200


def test_security_headers_on_every_response(client):
    response = client.get("/api/orchestrator/health")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("header", [None, "Token abc", "Bearer", "Bearer a b", "bearer"])
def test_api_caller_requires_a_bearer_token(mocked, header):
    request = RequestFactory().get("/x", **({"HTTP_AUTHORIZATION": header} if header else {}))
    with pytest.raises(NotAuthenticated):
        api_caller(request)
    assert not mocked.calls


def test_api_caller_accepts_the_scheme_in_any_case(mocked):
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    request = RequestFactory().get("/x", HTTP_AUTHORIZATION="bearer a.b.c")
    user, _ = api_caller(request)
    assert user.dni == "72345678"
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer a.b.c"


def test_api_caller_maps_users_403_to_invalid_token(mocked):
    mocked.get(f"{USERS}/api/user/me", status=403,
               json={"timestamp": "x", "status": 403, "error": "Acceso denegado", "message": "Access Denied"})
    with pytest.raises(InvalidToken) as exc:
        api_caller(api_request("a.b.c"))
    assert exc.value.status == 401 and exc.value.message == "Token inválido o expirado"


def test_api_caller_caches_me_per_token(mocked):
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    api_caller(api_request("a.b.c"))
    api_caller(api_request("a.b.c"))
    api_caller(api_request("d.e.f"))
    assert len(mocked.calls) == 2


def test_api_caller_refuses_non_admin_for_admin_routes(mocked):
    mocked.get(f"{USERS}/api/user/me", json=user_payload(role="CLIENTE"))
    with pytest.raises(PermissionDenied) as exc:
        api_caller(api_request("a.b.c"), admin=True)
    assert exc.value.message == "Se requieren permisos de administrador"


@pytest.mark.parametrize("token", [make_token(exp_in=-10), make_token(secret="otro" * 10), "no.es.jwt"])
def test_local_jwt_check_refuses_without_upstream_call(mocked, settings, token):
    settings.JWT_SECRET = SECRET
    with pytest.raises(InvalidToken):
        api_caller(api_request(token))
    assert not mocked.calls


def test_local_jwt_check_lets_good_tokens_reach_the_users_service(mocked, settings):
    settings.JWT_SECRET = SECRET
    mocked.get(f"{USERS}/api/user/me", json=user_payload(role="ADMIN"))
    user, _ = api_caller(api_request(make_token(role="ADMIN")), admin=True)
    assert user.is_admin and len(mocked.calls) == 1


def test_api_rate_limit_per_address_holds_whatever_the_token(client, settings):
    settings.API_RATE_LIMIT = 100
    settings.API_RATE_LIMIT_PER_ADDRESS = 3
    statuses = [client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.7.7.7",
                           HTTP_AUTHORIZATION=f"Bearer invented.token.{n}").status_code for n in range(4)]
    assert statuses[3] == 429 and 429 not in statuses[:3]


def test_cors_headers_reach_early_answers_and_expose_retry_after(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:5173"]
    response = client.post("/api/orchestrator/compras", data="x" * 70_000, content_type="application/json",
                           HTTP_ORIGIN="http://localhost:5173")
    assert response.status_code == 413
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "Retry-After" in response["Access-Control-Expose-Headers"]


def test_lock_busy_answers_503_with_retry_after(rf):
    from dashboard.errors import LockUnavailable
    from dashboard.middleware import render_error

    response = render_error(rf.post("/api/orchestrator/compras"), LockUnavailable(details={"productos": [1]}))
    assert response.status_code == 503 and response["Retry-After"] == "1"


def test_me_cache_never_outlives_the_token(mocked):
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    expired = make_token(exp_in=-5)  # no JWT_SECRET: only the users service can refuse it
    api_caller(api_request(expired))
    api_caller(api_request(expired))
    assert len(mocked.calls) == 2  # not cached: the users service is asked every time


def test_me_cache_is_capped_at_the_tokens_remaining_life(mocked, monkeypatch):
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    seen = {}
    from django.core.cache import cache

    original = cache.set

    def spy(key, value, timeout=None):
        seen["t"] = timeout
        return original(key, value, timeout)

    monkeypatch.setattr(cache, "set", spy)
    api_caller(api_request(make_token(exp_in=20)))
    assert 0 < seen["t"] <= 20


# Fair API limits -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("count", "forwarded", "remote", "expected"), [
    (0, "1.1.1.1", "10.0.0.1", "10.0.0.1"),                    # no trusted proxy: the header is ignored
    (1, "6.6.6.6, 203.0.113.7", "10.0.0.1", "203.0.113.7"),    # the entry our proxy appended
    (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "10.0.0.1", "203.0.113.7"),
    (2, "203.0.113.7", "10.0.0.1", "10.0.0.1"),                # fewer entries than proxies: not believed
    (1, "no-es-una-ip", "10.0.0.1", "10.0.0.1"),
    (1, "", "10.0.0.1", "10.0.0.1"),
])
def test_client_ip_reads_x_forwarded_for_only_through_trusted_proxies(settings, count, forwarded, remote, expected):
    from dashboard.ratelimit import client_ip

    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/x", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_anonymous_flood_never_429s_a_signed_in_caller(client, mocked, settings):
    settings.API_RATE_LIMIT_PER_ADDRESS = 5
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    mocked.get(f"{USERS}/api/compras/me", json=[])
    token = {"HTTP_AUTHORIZATION": "Bearer signed.in.token"}
    assert client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.5.5.5", **token).status_code == 200
    anonymous = [client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.5.5.5").status_code for _ in range(10)]
    assert anonymous.count(429) >= 5
    assert [client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.5.5.5", **token).status_code
            for _ in range(10)] == [200] * 10


def test_a_signed_in_callers_first_request_during_a_flood_is_verified_not_refused(client, mocked, settings):
    settings.API_RATE_LIMIT_PER_ADDRESS = 2
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    mocked.get(f"{USERS}/api/compras/me", json=[])
    for _ in range(5):
        client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.6.6.6")
    response = client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.6.6.6",
                          HTTP_AUTHORIZATION="Bearer fresh.valid.token")
    assert response.status_code == 200


def test_signed_in_callers_are_limited_per_token(client, mocked, settings):
    settings.API_RATE_LIMIT = 3
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    mocked.get(f"{USERS}/api/compras/me", json=[])
    first = [client.get("/api/orchestrator/compras/me", HTTP_AUTHORIZATION="Bearer token.uno").status_code
             for _ in range(5)]
    assert first[-1] == 429
    assert client.get("/api/orchestrator/compras/me", HTTP_AUTHORIZATION="Bearer token.dos").status_code == 200


def test_with_jwt_secret_a_good_token_is_signed_in_from_its_first_request(client, mocked, settings):
    settings.JWT_SECRET = SECRET
    settings.API_RATE_LIMIT_PER_ADDRESS = 1
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    mocked.get(f"{USERS}/api/compras/me", json=[])
    for _ in range(3):
        client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.8.8.8")
    calls = len(mocked.calls)
    token = make_token()
    response = client.get("/api/orchestrator/compras/me", REMOTE_ADDR="10.8.8.8", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert len(mocked.calls) == calls + 2  # /user/me and /compras/me: no extra verification call


def test_a_uri_over_max_uri_bytes_answers_json_414(client, settings):
    settings.MAX_URI_BYTES = 100
    response = client.get("/api/orchestrator/compras/me?q=" + "a" * 200)
    assert response.status_code == 414
    assert response.json()["details"]["code"] == "uri_demasiado_larga"
    assert client.get("/compras?q=" + "a" * 200).status_code == 414  # the dashboard too, as plain text


def test_a_host_not_allowed_answers_json_400_under_the_api(client):
    response = client.get("/api/orchestrator/compras/me", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["details"]["code"] == "host_no_permitido"
    page = client.get("/compras", HTTP_HOST="evil.example")
    assert page.status_code == 400 and "evil.example" not in page.content.decode()
