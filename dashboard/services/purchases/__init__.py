"""Purchases: register one (validated; the writes go through the purchase saga) and list them enriched.

The JSON API (`dashboard.api.purchases`) and the HTML dashboard call these same functions.
- `parsing`: the request body of `POST /compras`;
- `register`: validation, the saga (`dashboard.services.purchase_saga`), the receipt;
- `listing`: listings with filters and pages, enriched with one call per distinct product;
- `wire`: the JSON the API answers.
"""
from dashboard.services.purchases.listing import (
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    PRODUCT_UNAVAILABLE,
    EnrichedPurchase,
    PurchaseFilters,
    PurchaseLine,
    PurchaseListing,
    parse_purchase_filters,
    purchase_get,
    purchases_list,
)
from dashboard.services.purchases.parsing import (
    DATOS_ADICIONALES_MAX_BYTES,
    PurchaseItem,
    PurchaseRequest,
    parse_purchase_request,
)
from dashboard.services.purchases.register import (
    PurchaseReceipt,
    ReceiptLine,
    purchase_register,
    receipt_from_draft,
)
from dashboard.services.purchases.resolve import purchase_resolve
from dashboard.services.purchases.times import UPSTREAM_TZ, upstream_time
from dashboard.services.purchases.wire import listing_to_wire, purchase_to_wire, receipt_to_wire

__all__ = [
    "DATOS_ADICIONALES_MAX_BYTES", "PAGE_SIZE_DEFAULT", "PAGE_SIZE_MAX", "PRODUCT_UNAVAILABLE",
    "EnrichedPurchase", "PurchaseFilters", "PurchaseItem", "PurchaseLine", "PurchaseListing", "PurchaseReceipt",
    "PurchaseRequest", "ReceiptLine", "listing_to_wire", "parse_purchase_filters", "parse_purchase_request",
    "purchase_get", "purchase_register", "purchase_resolve", "purchase_to_wire", "purchases_list",
    "UPSTREAM_TZ", "receipt_from_draft", "receipt_to_wire", "upstream_time",
]
