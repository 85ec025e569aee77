"""Sign-in, sign-out and the session: the real login view against `responses` mocks."""
from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.core.cache import cache
from django.test import Client

from dashboard.session import EXPIRED_NOTICE_SECONDS
from tests.conftest import USERS
from tests.payloads import user_payload
from tests.views.conftest import ADMIN_DNI, make_token, sign_in


def _login_post(client, ident=ADMIN_DNI, password="secreta", **extra):  # noqa: S107
    return client.post("/login", {"identificador": ident, "password": password, **extra})


def test_login_page_renders_labelled_form(client):
    response = client.get("/login")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'for="id_identificador"' in body and 'for="id_password"' in body


def test_login_success_redirects_home(client, mocked):
    response = sign_in(client, mocked)
    assert response["Location"] == "/"


def test_login_by_email_sends_email_upstream(client, mocked):
    mocked.post(f"{USERS}/api/auth/login", json={"token": make_token(ADMIN_DNI, "ADMIN")})
    mocked.get(f"{USERS}/api/user/me", json=user_payload(dni=ADMIN_DNI, role="ADMIN"))
    _login_post(client, ident="  Admin@Botica.pe ")
    # as typed, trimmed only: the users service matches e-mails exactly, case included
    assert b'"email": "Admin@Botica.pe"' in mocked.calls[0].request.body


def test_login_honours_a_local_next(client, mocked):
    client.get("/login?next=/compras")
    mocked.post(f"{USERS}/api/auth/login", json={"token": make_token(ADMIN_DNI, "ADMIN")})
    mocked.get(f"{USERS}/api/user/me", json=user_payload(dni=ADMIN_DNI, role="ADMIN"))
    response = _login_post(client, next="/compras?desde=2025-01-01")
    assert response["Location"] == "/compras?desde=2025-01-01"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example/x", "///evil.example",
                                    "/\t/evil.example", "javascript:alert(1)"])
def test_login_ignores_a_foreign_next(client, mocked, target):
    mocked.post(f"{USERS}/api/auth/login", json={"token": make_token(ADMIN_DNI, "ADMIN")})
    mocked.get(f"{USERS}/api/user/me", json=user_payload(dni=ADMIN_DNI, role="ADMIN"))
    response = _login_post(client, next=target)
    assert response["Location"] == "/"


def test_login_wrong_password_shows_a_generic_reason_and_keeps_dni(client, mocked):
    mocked.post(f"{USERS}/api/auth/login", status=401,
                json={"status": 401, "error": "Error de autenticación", "message": "Contraseña incorrecta"})
    response = _login_post(client, password="mala-clave-123")
    body = response.content.decode()
    assert response.status_code == 200
    assert "DNI, correo o contraseña incorrectos." in body
    assert "Contraseña incorrecta" not in body  # the upstream's words could tell which part was wrong
    assert f'value="{ADMIN_DNI}"' in body
    assert "mala-clave-123" not in body


def test_login_invalid_identifier_never_calls_upstream(client, mocked):
    response = _login_post(client, ident="12ab")
    assert response.status_code == 200
    assert "DNI de 8 dígitos" in response.content.decode()
    assert not mocked.calls


def test_login_users_service_down_answers_503(client, mocked):
    mocked.post(f"{USERS}/api/auth/login", body=requests.exceptions.ConnectionError())
    response = _login_post(client)
    assert response.status_code == 503
    assert "El servicio de usuarios no está disponible" in response.content.decode()


def test_login_attempts_are_rate_limited(client, mocked):
    mocked.post(f"{USERS}/api/auth/login", status=401, json={"error": "Error de autenticación",
                                                            "message": "Contraseña incorrecta"})
    statuses = [_login_post(client).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = _login_post(client)
    assert int(limited["Retry-After"]) >= 1
    assert "Demasiados intentos" in limited.content.decode()
    assert len(mocked.calls) == 5


def test_login_rate_limit_is_per_identifier(client, mocked):
    mocked.post(f"{USERS}/api/auth/login", status=401, json={"error": "x", "message": "Contraseña incorrecta"})
    for _ in range(6):
        _login_post(client)
    assert _login_post(client, ident="72345678").status_code == 200


def test_login_session_expires_with_the_token(client, mocked):
    sign_in(client, mocked, exp_in=600)
    cookie = client.cookies["botica_sesion"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    # The session (server-side) outlives the token only to say why the person must sign in again.
    assert 0 < int(cookie["max-age"]) <= 600 + EXPIRED_NOTICE_SECONDS


def test_login_keeps_no_password_in_session(client, mocked):
    sign_in(client, mocked)
    assert "secreta" not in str(dict(client.session))


def test_anonymous_page_redirects_to_login_with_next(client):
    response = client.get("/compras?desde=2025-01-01")
    assert response.status_code == 302
    assert response["Location"] == "/login?next=%2Fcompras%3Fdesde%3D2025-01-01"


def test_anonymous_htmx_request_gets_hx_redirect(client):
    response = client.get("/compras", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/compras?page=2")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login?next=%2Fcompras%3Fpage%3D2"


def test_expired_token_sends_back_to_login(client, mocked, world):
    sign_in(client, mocked, exp_in=3600)
    session = client.session
    session["token_exp"] = int((dt.datetime.now() - dt.timedelta(minutes=1)).timestamp())
    session.save()
    client.cookies["botica_sesion"] = session.session_key
    response = client.get("/compras")
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    assert "Su sesión expiró" in client.get(response["Location"]).content.decode()


def test_a_session_the_server_no_longer_has_lands_on_login_saying_it_expired(client, mocked, world):
    sign_in(client, mocked)
    cache.clear()  # the session is gone server-side (expired, evicted, restarted)
    response = client.get("/compras")
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    page = client.get(response["Location"]).content.decode()
    assert "Su sesión expiró" in page


def test_the_session_cookie_is_an_opaque_id_and_the_token_stays_server_side(client, mocked):
    sign_in(client, mocked)
    token = client.session["token"]
    cookie = client.cookies["botica_sesion"].value
    assert token.split(".")[1] not in cookie and ":" not in cookie  # not the token, not signed data
    assert len(cookie) == 32 and cookie.isalnum()
    assert all(token not in morsel.value for morsel in client.cookies.values())


def test_logout_revokes_the_session_even_for_a_copied_cookie(client, mocked, world):
    sign_in(client, mocked)
    stolen = client.cookies["botica_sesion"].value
    assert client.get("/compras").status_code == 200
    client.post("/logout")
    thief = Client()
    thief.cookies["botica_sesion"] = stolen
    response = thief.get("/compras")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_refused_token_sends_back_to_login(client, mocked, world, settings):
    settings.ME_CACHE_SECONDS = 0
    sign_in(client, mocked)
    mocked.upsert("GET", f"{USERS}/api/user/me", status=403,
                  json={"status": 403, "error": "Acceso denegado", "message": "Access Denied"})
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/login?next=%2F"
    assert "botica_sesion" not in client.cookies or not client.cookies["botica_sesion"].value


def test_login_page_redirects_a_signed_in_user(client, mocked):
    sign_in(client, mocked)
    assert client.get("/login")["Location"] == "/"


def test_logout_requires_post(client, mocked):
    sign_in(client, mocked)
    assert client.get("/logout").status_code == 405


def test_logout_clears_the_session(client, mocked, world):
    sign_in(client, mocked)
    response = client.post("/logout")
    assert response.status_code == 302 and response["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_logout_enforces_csrf(mocked):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login")
    token = page.context["csrf_token"]
    mocked.post(f"{USERS}/api/auth/login", json={"token": make_token(ADMIN_DNI, "ADMIN")})
    mocked.get(f"{USERS}/api/user/me", json=user_payload(dni=ADMIN_DNI, role="ADMIN"))
    signed_in = client.post("/login", {"identificador": ADMIN_DNI, "password": "x", "csrfmiddlewaretoken": token})
    assert signed_in.status_code == 302
    assert client.post("/logout").status_code == 403


def test_login_enforces_csrf(mocked):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login", {"identificador": ADMIN_DNI, "password": "x"})
    assert response.status_code == 403
    assert not mocked.calls


REFUSED = {"status": 403, "error": "Acceso denegado", "message": "Access Denied"}


def test_refused_token_on_a_data_call_sends_back_to_login(client, mocked, world):
    sign_in(client, mocked)  # /api/user/me is now cached as accepted
    mocked.upsert("GET", f"{USERS}/api/compras/all", status=403, json=REFUSED)
    mocked.upsert("GET", f"{USERS}/api/user/me", status=403, json=REFUSED)
    response = client.get("/compras")
    assert response.status_code == 302 and response["Location"] == "/login?next=%2Fcompras"
    assert "token" not in client.session


def test_refused_token_on_a_data_call_htmx_gets_hx_redirect(client, mocked, world):
    sign_in(client, mocked)
    mocked.upsert("GET", f"{USERS}/api/compras/all", status=403, json=REFUSED)
    mocked.upsert("GET", f"{USERS}/api/user/me", status=403, json=REFUSED)
    response = client.get("/compras/3", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/compras")
    assert response["HX-Redirect"] == "/login?next=%2Fcompras"


def test_upstream_403_with_an_accepted_token_keeps_the_session(client, mocked, world):
    sign_in(client, mocked)
    mocked.upsert("GET", f"{USERS}/api/compras/all", status=403, json=REFUSED)
    response = client.get("/compras")
    assert response.status_code == 403
    assert "token" in client.session


def test_login_redirect_varies_on_hx_request(client):
    # "/" has no fragment of its own, but its redirect still differs for htmx (HX-Redirect).
    assert "HX-Request" in client.get("/")["Vary"]


def test_unknown_url_keeps_the_signed_in_header(client, mocked):
    sign_in(client, mocked)
    response = client.get("/no-existe")
    body = response.content.decode()
    assert response.status_code == 404
    assert "Cerrar sesión" in body and 'href="/compras"' in body


# Fair login limits: failures only, per account (DNI and e-mail alike) and per address ----------------
def _login_from(address, ident, **meta):
    """A login POST from a fresh browser at `address` (REMOTE_ADDR) with extra request headers."""
    return Client().post("/login", {"identificador": ident, "password": "secreta"}, REMOTE_ADDR=address, **meta)


def _refuse_logins(mocked, message="Usuario no encontrado", status=404):
    mocked.upsert("POST", f"{USERS}/api/auth/login", status=status, json={"error": message})


def test_login_unknown_account_reads_like_a_wrong_password(client, mocked):
    _refuse_logins(mocked, "Usuario no encontrado", 404)
    unknown = _login_post(client, ident="11111111").content.decode()
    _refuse_logins(mocked, "Contraseña incorrecta", 401)
    wrong = _login_post(client, ident="22222222").content.decode()
    assert "DNI, correo o contraseña incorrectos." in unknown and "DNI, correo o contraseña incorrectos." in wrong
    assert "no encontrado" not in unknown


def test_login_successes_do_not_count(client, mocked):
    for _ in range(8):
        response = sign_in(Client(), mocked)  # a fresh browser each time, same DNI and address
        assert response.status_code == 302


def test_login_limit_is_per_account_whichever_identifier(client, mocked):
    # The account signs in once by DNI: its e-mail is now known to be the same account.
    mocked.upsert("POST", f"{USERS}/api/auth/login", json={"token": make_token(ADMIN_DNI, "ADMIN")})
    mocked.upsert("GET", f"{USERS}/api/user/me", json=user_payload(dni=ADMIN_DNI, role="ADMIN",
                                                                   email="admin@botica.pe"))
    assert _login_post(Client()).status_code == 302
    _refuse_logins(mocked, "Contraseña incorrecta", 401)
    statuses = []
    for n in range(6):  # alternate identifiers and addresses: still one account
        ident = ADMIN_DNI if n % 2 else "ADMIN@botica.pe"
        statuses.append(_login_from(f"10.2.0.{n}", ident).status_code)
    assert statuses == [200] * 5 + [429]
    calls = len(mocked.calls)
    assert _login_from("10.2.1.1", "admin@botica.pe").status_code == 429
    assert len(mocked.calls) == calls  # refused without asking the users service


def test_login_limit_per_address_across_accounts(client, mocked, settings):
    from dashboard.services import auth as auth_service

    _refuse_logins(mocked, "Contraseña incorrecta", 401)
    statuses = [_login_from("10.3.3.3", f"3{n:07d}").status_code
                for n in range(auth_service.ADDRESS_FAILURES_PER_MINUTE + 1)]
    assert statuses[-1] == 429 and 429 not in statuses[:-1]
    assert _login_from("10.3.3.4", "39999999").status_code == 200  # another address


def test_login_address_comes_from_trusted_proxies_only(client, mocked, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    _refuse_logins(mocked, "Contraseña incorrecta", 401)
    from dashboard.services import auth as auth_service

    for n in range(auth_service.ADDRESS_FAILURES_PER_MINUTE):
        # The client forges a first X-Forwarded-For entry; the proxy appends the real address.
        _login_from("10.0.0.1", f"4{n:07d}", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7")
    assert _login_from("10.0.0.1", "49999999", HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.7").status_code == 429
    assert _login_from("10.0.0.1", "49999998", HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 200
