"""Users, auth and purchases: the Spring Boot service (JWT auth, `{"timestamp","status","error","message"}` errors)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import secrets
import threading
import time
from datetime import UTC, datetime, tzinfo
from typing import Any

import jwt

from .seed import naive_iso
from .server import InvalidJson, Reply, Request, Response, Route, Service, json_response

DEFAULT_JWT_SECRET = "sandbox-dev-secret-change-me-0123456789abcdef"
TOKEN_LIFETIME_SECONDS = 24 * 3600
ROLES = ("CLIENTE", "ADMIN")
PUBLIC_FIELDS = ("dni", "email", "nombre", "apellido", "role", "distrito")


def spring_error(status: int, error: str, message: str | None = None, **extra: Any) -> Response:
    """The users service's one error body: `{"timestamp","status","error","message"}` (+ extras)."""
    body: dict[str, Any] = {"timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                            "status": status, "error": error}
    if message is not None:
        body["message"] = message
    body.update(extra)
    return json_response(status, body)


def unexpected_error(status: int = 500) -> Response:
    # The service's catch-all handler: malformed JSON, wrong method, unknown path, bad purchase lists.
    return spring_error(status, "Error interno del servidor", "Ha ocurrido un error inesperado")


def access_denied() -> Response:
    # Spring Security answers 403 for a missing/invalid/expired token and for a too-low role alike.
    return spring_error(403, "Acceso denegado", "Access Denied")


class UsersStore:
    """Users and their purchases, keyed by DNI; purchases reference users by an internal numeric id."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # The zone `fechaCompra` is written in (`LocalDateTime.now()`; the real container has no TZ: UTC).
        self.zone: tzinfo = UTC
        # The real service matches e-mails exactly (PostgreSQL); True emulates a case-insensitive lookup.
        self.email_ignores_case = False
        self.load([], [])

    def load(self, users: list[dict[str, Any]], purchases: list[dict[str, Any]]) -> None:
        with self._lock:
            self._users: dict[str, dict[str, Any]] = {}
            for user in users:
                record = {key: value for key, value in user.items() if key != "password"}
                record["password_hash"] = _hash_password(user["password"])
                self._users[user["dni"]] = record
            self._purchases = [copy.deepcopy(purchase) for purchase in purchases]
            self._next_user_id = max((user["id"] for user in users), default=0) + 1
            self._next_purchase_id = max((purchase["id"] for purchase in purchases), default=0) + 1

    # -- users ---------------------------------------------------------------------------------
    def get(self, dni: str) -> dict[str, Any] | None:
        """The user as `/api/user/me` shows it (no id, no password)."""
        with self._lock:
            user = self._users.get(dni)
            return _public(user) if user else None

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(user) for user in self._users.values()]

    def internal_id(self, dni: str) -> int | None:
        with self._lock:
            user = self._users.get(dni)
            return user["id"] if user else None

    def find(self, *, email: str | None = None, dni: str | None = None) -> dict[str, Any] | None:
        """Look up by email when given (email wins), else by DNI."""
        with self._lock:
            if email:
                if self.email_ignores_case:
                    return next((_public(u) for u in self._users.values()
                                 if u["email"].lower() == email.lower()), None)
                return next((_public(u) for u in self._users.values() if u["email"] == email), None)
            return self.get(dni) if dni else None

    def check_password(self, dni: str, password: str) -> bool:
        with self._lock:
            user = self._users.get(dni)
            return bool(user) and _verify_password(password, user["password_hash"])

    def create(self, *, dni: str, email: str, password: str, nombre: str, apellido: str, distrito: str,
               role: str = "CLIENTE") -> dict[str, Any] | None:
        """Add a user; None when the DNI or the email is taken."""
        with self._lock:
            if dni in self._users or self.find(email=email):
                return None
            self._users[dni] = {"id": self._next_user_id, "dni": dni, "email": email, "nombre": nombre,
                                "apellido": apellido, "distrito": distrito, "role": role,
                                "password_hash": _hash_password(password)}
            self._next_user_id += 1
            return _public(self._users[dni])

    def update(self, dni: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            user = self._users.get(dni)
            if user is None:
                return None
            for key in ("email", "nombre", "apellido", "distrito", "role"):
                if isinstance(fields.get(key), str) and fields[key].strip():
                    user[key] = fields[key].strip()
            if isinstance(fields.get("password"), str) and fields["password"]:
                user["password_hash"] = _hash_password(fields["password"])
            return _public(user)

    def delete(self, dni: str) -> bool:
        with self._lock:
            return self._users.pop(dni, None) is not None

    # -- purchases -----------------------------------------------------------------------------
    def purchases(self, dni: str | None = None) -> list[dict[str, Any]]:
        """Every purchase, or only those of the user with this DNI."""
        with self._lock:
            user_id = self.internal_id(dni) if dni else None
            return [copy.deepcopy(p) for p in self._purchases if dni is None or p["usuarioId"] == user_id]

    def add_purchase(self, usuario_id: int, productos: list[int], cantidades: list[int],
                     fecha: datetime | None = None) -> dict[str, Any]:
        with self._lock:
            purchase = {"id": self._next_purchase_id,
                        "fechaCompra": naive_iso(fecha or datetime.now(UTC), micro=True, zone=self.zone),
                        "usuarioId": usuario_id, "productos": list(productos), "cantidades": list(cantidades)}
            self._next_purchase_id += 1
            self._purchases.append(purchase)
            return copy.deepcopy(purchase)


class Tokens:
    """Issues and checks the HS256 JWTs: `role`, `sub` (the DNI), `iat`, `exp`."""

    def __init__(self, secret: str | None = None):
        self.secret = secret or os.environ.get("JWT_SECRET") or DEFAULT_JWT_SECRET

    def issue(self, dni: str, role: str, lifetime_seconds: int = TOKEN_LIFETIME_SECONDS) -> str:
        now = int(time.time())
        claims = {"role": role, "sub": dni, "iat": now, "exp": now + lifetime_seconds}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def subject(self, token: str) -> str | None:
        """The DNI in a valid token, else None (bad signature, expired, malformed)."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
        except jwt.PyJWTError:
            return None
        return str(claims["sub"])


class UsersService(Service):
    """Routes of the users service. Unknown paths and wrong methods answer the generic 500
    before any auth check, as the contract describes."""

    name = "usuarios"

    def __init__(self, store: UsersStore, tokens: Tokens):
        self.store = store
        self.tokens = tokens
        super().__init__()

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/echo", self.echo),
            Route("POST", "/api/auth/login", self.login),
            Route("POST", "/api/auth/register", self.register),
            Route("GET", "/api/user/me", self.me),
            Route("PUT", "/api/user/me", self.update_me),
            Route("DELETE", "/api/user/me", self.delete_me),
            Route("GET", "/api/user/all", self.all_users),
            Route("POST", "/api/compras", self.create_purchase),
            Route("GET", "/api/compras/me", self.my_purchases),
            Route("GET", "/api/compras/all", self.all_purchases),
        ]

    def not_found(self, request: Request) -> Response:
        return unexpected_error()

    def method_not_allowed(self, request: Request) -> Response:
        return unexpected_error()

    def invalid_json(self, request: Request, error: InvalidJson) -> Response:
        return unexpected_error()

    def failure(self, status: int) -> Response:
        return unexpected_error(status)

    # -- helpers -------------------------------------------------------------------------------
    def _caller(self, request: Request, *, admin: bool = False) -> dict[str, Any]:
        """The authenticated user, by the token's DNI; the role comes from the store, not the claim."""
        scheme, _, token = request.header("authorization").partition(" ")
        dni = self.tokens.subject(token.strip()) if scheme.lower() == "bearer" else None
        user = self.store.get(dni) if dni else None
        if user is None or (admin and user["role"] != "ADMIN"):
            raise Reply(access_denied())
        return user

    @staticmethod
    def _object(request: Request) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict):
            raise Reply(unexpected_error())
        return body

    # -- endpoints -----------------------------------------------------------------------------
    def echo(self, request: Request) -> Response:
        return json_response(200, {"status": "ok", "servicio": "usuarios-compras"})

    def login(self, request: Request) -> Response:
        body = self._object(request)
        email, dni, password = _text(body, "email"), _text(body, "dni"), _text(body, "password")
        errors = {}
        if not email and not dni:
            errors["email"] = "Debe indicar el email o el DNI"
        if not password:
            errors["password"] = "La contraseña es obligatoria"
        if errors:
            return _validation_error(errors)
        user = self.store.find(email=email, dni=dni)
        if user is None:
            return spring_error(400, "Usuario no encontrado",
                                f"No existe un usuario con {'email' if email else 'DNI'} {email or dni}")
        if not self.store.check_password(user["dni"], password):
            return spring_error(401, "Error de autenticación", "Contraseña incorrecta")
        return json_response(200, {"token": self.tokens.issue(user["dni"], user["role"])})

    def register(self, request: Request) -> Response:
        body = self._object(request)
        fields = {key: _text(body, key) for key in ("email", "password", "nombre", "apellido", "dni", "distrito")}
        errors = {key: f"El campo {key} es obligatorio" for key, value in fields.items() if not value}
        if fields["email"] and "@" not in fields["email"]:
            errors["email"] = "El email no es válido"
        if fields["dni"] and not (fields["dni"].isdigit() and len(fields["dni"]) == 8):
            errors["dni"] = "El DNI debe tener 8 dígitos"
        if errors:
            return _validation_error(errors)
        user = self.store.create(**fields)
        if user is None:
            return spring_error(409, "Usuario ya existe", "Ya existe un usuario con ese email o DNI")
        return json_response(200, {"token": self.tokens.issue(user["dni"], user["role"])})

    def me(self, request: Request) -> Response:
        return json_response(200, self._caller(request))

    def update_me(self, request: Request) -> Response:
        user = self._caller(request)
        fields = {key: value for key, value in self._object(request).items() if key != "role"}
        return json_response(200, self.store.update(user["dni"], fields))

    def delete_me(self, request: Request) -> Response:
        self.store.delete(self._caller(request)["dni"])
        return Response(200)

    def all_users(self, request: Request) -> Response:
        self._caller(request, admin=True)
        return json_response(200, self.store.all())

    def create_purchase(self, request: Request) -> Response:
        user = self._caller(request)
        body = self._object(request)
        productos, cantidades = body.get("productos"), body.get("cantidades")
        # No product, stock or price checks: only list shapes, which fail as an unhandled 500.
        if not (_int_list(productos) and _int_list(cantidades) and len(productos) == len(cantidades)):
            return unexpected_error()
        purchase = self.store.add_purchase(self.store.internal_id(user["dni"]), productos, cantidades)
        return json_response(200, purchase)

    def my_purchases(self, request: Request) -> Response:
        return json_response(200, self.store.purchases(self._caller(request)["dni"]))

    def all_purchases(self, request: Request) -> Response:
        self._caller(request, admin=True)
        return json_response(200, self.store.purchases())


def _validation_error(errors: dict[str, str]) -> Response:
    return spring_error(400, "Errores de validación", "Los datos enviados no son válidos", validationErrors=errors)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, bool) or value is None:
        return ""
    return str(value).strip()  # Jackson coerces numbers into String fields


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value)


def _public(user: dict[str, Any]) -> dict[str, Any]:
    return {key: user[key] for key in PUBLIC_FIELDS}


def _hash_password(password: str) -> str:
    salt = secrets.token_hex(8)
    return f"{salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


def _verify_password(password: str, stored: str) -> bool:
    salt, _, digest = stored.partition("$")
    return hmac.compare_digest(hashlib.sha256((salt + password).encode()).hexdigest(), digest)
