"""Client of the users, auth and purchases service (Spring Boot; checks the JWT)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dashboard.clients.base import BaseClient
from dashboard.errors import SERVICE_USERS
from dashboard.types import Purchase, User, WireError


def _token(body: object) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body["token"]:
        raise WireError("login answered without a token")
    return body["token"]


def _users(body: object) -> list[User]:
    if not isinstance(body, list):
        raise WireError("expected a list of users")
    return [User.from_wire(u) for u in body]


def _purchases(body: object, zone: dt.tzinfo) -> list[Purchase]:
    if not isinstance(body, list):
        raise WireError("expected a list of purchases")
    return [Purchase.from_wire(p, zone) for p in body]


class UsersClient(BaseClient):
    service = SERVICE_USERS
    url_setting = "URL_USUARIOS_COMPRAS"
    timezone_setting = "UPSTREAM_TIMEZONE_USUARIOS"  # its naive `fechaCompra` is in this zone

    def login(self, *, password: str, email: str | None = None, dni: str | None = None) -> str:
        """POST /api/auth/login -> the JWT. The upstream prefers email when both are given."""
        body = {"password": password, **({"email": email} if email else {"dni": dni})}
        return self.call("POST", "/api/auth/login", json=body, parse=_token)

    def me(self) -> User:
        """GET /api/user/me (any role). The users service answers 403 for a bad token."""
        return self.call("GET", "/api/user/me", auth=True, parse=User.from_wire)

    def users_all(self) -> list[User]:
        """GET /api/user/all (ADMIN)."""
        return self.call("GET", "/api/user/all", auth=True, parse=_users)

    def purchase_create(self, *, productos: Sequence[int], cantidades: Sequence[int]) -> Purchase:
        """POST /api/compras: stores the purchase for the token's user (answers 200, not 201)."""
        if not productos or len(productos) != len(cantidades):
            # The upstream answers a bare 500 to this; services validate first, so this is a bug.
            raise ValueError("a purchase needs parallel, non-empty lists")
        body = {"productos": list(productos), "cantidades": list(cantidades)}
        return self.call("POST", "/api/compras", json=body, auth=True,
                         parse=lambda data: Purchase.from_wire(data, self.zone))

    def purchases_mine(self) -> list[Purchase]:
        """GET /api/compras/me (any role): plain array, no order guarantee."""
        return self.call("GET", "/api/compras/me", auth=True, parse=lambda data: _purchases(data, self.zone))

    def purchases_all(self) -> list[Purchase]:
        """GET /api/compras/all (ADMIN): plain array, no order guarantee, no pagination."""
        return self.call("GET", "/api/compras/all", auth=True, parse=lambda data: _purchases(data, self.zone))
