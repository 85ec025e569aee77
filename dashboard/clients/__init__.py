"""Upstream clients. Nothing outside this package imports `requests`."""
from dataclasses import dataclass

from dashboard.clients.base import prescription_id, product_id
from dashboard.clients.prescriptions import PrescriptionsClient
from dashboard.clients.products import ProductsClient
from dashboard.clients.users import UsersClient


@dataclass(frozen=True)
class Upstreams:
    """The three clients for one caller, as the services receive them."""

    users: UsersClient
    products: ProductsClient
    prescriptions: PrescriptionsClient


def upstreams_for(token: str | None) -> Upstreams:
    return Upstreams(users=UsersClient(token=token), products=ProductsClient(), prescriptions=PrescriptionsClient())


__all__ = [
    "PrescriptionsClient", "ProductsClient", "Upstreams", "UsersClient",
    "prescription_id", "product_id", "upstreams_for",
]
