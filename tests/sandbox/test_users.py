"""The users service: login, register, JWT, /api/user, /api/compras and its error quirks."""

from __future__ import annotations

import re

import jwt
import pytest

from sandbox import DEMO_LOGINS

from .conftest import ADMIN_DNI, ANA_DNI

pytestmark = pytest.mark.integration

GENERIC_500 = {"status": 500, "error": "Error interno del servidor", "message": "Ha ocurrido un error inesperado"}
DENIED = {"status": 403, "error": "Acceso denegado", "message": "Access Denied"}


def without_timestamp(body):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body.pop("timestamp"))
    return body


def login(http, url, **body):
    return http.post(f"{url}/api/auth/login", json=body)


@pytest.mark.parametrize("demo", DEMO_LOGINS, ids=lambda demo: demo["rol"] + demo["dni"])
def test_login_demo_logins_by_email_and_by_dni(http, users_url, demo):
    by_email = login(http, users_url, email=demo["email"], password=demo["password"])
    by_dni = login(http, users_url, dni=demo["dni"], password=demo["password"])
    assert by_email.status_code == by_dni.status_code == 200
    assert list(by_email.json()) == ["token"]
    assert by_dni.json()["token"]


def test_login_token_claims(sb, http, users_url):
    token = login(http, users_url, email="admin@botica.pe", password="Admin123!").json()["token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, sb.jwt_secret, algorithms=["HS256"])
    assert set(claims) == {"role", "sub", "iat", "exp"}
    assert claims["role"] == "ADMIN"
    assert claims["sub"] == ADMIN_DNI
    assert claims["exp"] - claims["iat"] == 24 * 3600


def test_login_email_wins_over_dni(sb, http, users_url):
    response = login(http, users_url, email="ana.quispe@example.com", dni=ADMIN_DNI, password="Cliente123!")
    claims = jwt.decode(response.json()["token"], sb.jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == ANA_DNI


def test_login_unknown_user_is_400(http, users_url):
    response = login(http, users_url, email="nadie@example.com", password="x")
    assert response.status_code == 400
    body = without_timestamp(response.json())
    assert body["status"] == 400 and body["error"] == "Usuario no encontrado" and body["message"]


def test_login_wrong_password_is_401(http, users_url):
    response = login(http, users_url, dni=ANA_DNI, password="mala")
    assert response.status_code == 401
    assert without_timestamp(response.json()) == {
        "status": 401, "error": "Error de autenticación", "message": "Contraseña incorrecta"}


def test_login_missing_password_is_a_validation_error(http, users_url):
    response = login(http, users_url, email="ana.quispe@example.com")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Errores de validación"
    assert set(body["validationErrors"]) == {"password"}


def test_register_creates_a_customer_and_returns_a_token(sb, http, users_url):
    body = {"email": "nuevo@example.com", "password": "Secreta1!", "nombre": "Raúl", "apellido": "Tito",
            "dni": "87654321", "distrito": "Breña", "role": "ADMIN"}
    response = http.post(f"{users_url}/api/auth/register", json=body)
    assert response.status_code == 200
    assert jwt.decode(response.json()["token"], sb.jwt_secret, algorithms=["HS256"])["role"] == "CLIENTE"
    assert sb.users.get("87654321")["role"] == "CLIENTE"
    assert login(http, users_url, email="nuevo@example.com", password="Secreta1!").status_code == 200


def test_register_existing_user_is_409(http, users_url):
    body = {"email": "otra@example.com", "password": "x", "nombre": "A", "apellido": "B", "dni": ANA_DNI,
            "distrito": "Lince"}
    response = http.post(f"{users_url}/api/auth/register", json=body)
    assert response.status_code == 409
    assert response.json()["error"] == "Usuario ya existe"


def test_register_missing_fields_is_a_validation_error(http, users_url):
    response = http.post(f"{users_url}/api/auth/register", json={"email": "a@b.pe", "password": "x"})
    assert response.status_code == 400
    assert set(response.json()["validationErrors"]) == {"nombre", "apellido", "dni", "distrito"}


def test_user_me_has_no_id(http, users_url, ana_headers):
    response = http.get(f"{users_url}/api/user/me", headers=ana_headers)
    assert response.status_code == 200
    assert response.json() == {"dni": ANA_DNI, "email": "ana.quispe@example.com", "nombre": "Ana",
                               "apellido": "Quispe", "role": "CLIENTE", "distrito": "San Borja"}


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "expired", "wrong-secret"])
def test_bad_tokens_get_403_access_denied(sb, http, users_url, authorization):
    if authorization == "expired":
        authorization = f"Bearer {sb.token_for(ANA_DNI, lifetime_seconds=-60)}"
    elif authorization == "wrong-secret":
        authorization = "Bearer " + jwt.encode({"sub": ANA_DNI, "role": "CLIENTE", "exp": 9999999999},
                                               "another-secret-of-at-least-32-bytes!!", algorithm="HS256")
    headers = {"Authorization": authorization} if authorization else {}
    response = http.get(f"{users_url}/api/user/me", headers=headers)
    assert response.status_code == 403
    assert without_timestamp(response.json()) == DENIED


@pytest.mark.parametrize("path", ["/api/user/all", "/api/compras/all"])
def test_customer_on_admin_endpoints_gets_the_same_403(http, users_url, ana_headers, path):
    response = http.get(f"{users_url}{path}", headers=ana_headers)
    assert response.status_code == 403
    assert without_timestamp(response.json()) == DENIED


def test_role_comes_from_the_store_not_the_claim(sb, http, users_url):
    forged = {"Authorization": f"Bearer {sb.token_for(ANA_DNI, role='ADMIN')}"}
    assert http.get(f"{users_url}/api/user/all", headers=forged).status_code == 403


def test_admin_lists_users_and_all_purchases(sb, http, users_url, admin_headers):
    users = http.get(f"{users_url}/api/user/all", headers=admin_headers).json()
    assert {user["dni"] for user in users} >= {ADMIN_DNI, ANA_DNI}
    assert all("id" not in user for user in users)
    purchases = http.get(f"{users_url}/api/compras/all", headers=admin_headers).json()
    assert len(purchases) == len(sb.users.purchases()) >= 100


def test_purchase_is_stored_with_the_callers_internal_id(sb, http, users_url, ana_headers):
    body = {"usuarioId": 999, "productos": [12, 40, 12], "cantidades": [2, 1, 1], "total": 10, "otro": "x"}
    response = http.post(f"{users_url}/api/compras", json=body, headers=ana_headers)
    assert response.status_code == 200
    purchase = response.json()
    assert list(purchase) == ["id", "fechaCompra", "usuarioId", "productos", "cantidades"]
    assert purchase["usuarioId"] == sb.users.internal_id(ANA_DNI) != 999
    assert purchase["productos"] == [12, 40, 12] and purchase["cantidades"] == [2, 1, 1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?", purchase["fechaCompra"])
    mine = http.get(f"{users_url}/api/compras/me", headers=ana_headers).json()
    assert purchase in mine
    assert {item["usuarioId"] for item in mine} == {purchase["usuarioId"]}


@pytest.mark.parametrize("body", [
    {"productos": None, "cantidades": [1]},
    {"productos": [], "cantidades": []},
    {"productos": [1, 2], "cantidades": [1]},
    {"cantidades": [1]},
])
def test_purchase_with_bad_lists_is_the_generic_500(sb, http, users_url, ana_headers, body):
    before = len(sb.users.purchases())
    response = http.post(f"{users_url}/api/compras", json=body, headers=ana_headers)
    assert response.status_code == 500
    assert without_timestamp(response.json()) == GENERIC_500
    assert len(sb.users.purchases()) == before


def test_purchase_without_token_is_403(http, users_url):
    response = http.post(f"{users_url}/api/compras", json={"productos": [1], "cantidades": [1]})
    assert response.status_code == 403


@pytest.mark.parametrize("method, path, data", [
    ("GET", "/api/no-existe", None),
    ("GET", "/api/auth/login", None),
    ("DELETE", "/api/compras", None),
    ("POST", "/api/auth/login", b"{not json"),
])
def test_unexpected_requests_are_the_generic_500(http, users_url, ana_headers, method, path, data):
    headers = {**ana_headers, "Content-Type": "application/json"}
    response = http.request(method, f"{users_url}{path}", data=data, headers=headers)
    assert response.status_code == 500
    assert without_timestamp(response.json()) == GENERIC_500


def test_token_for_unknown_user_raises(sb):
    with pytest.raises(KeyError):
        sb.token_for("00000000")
