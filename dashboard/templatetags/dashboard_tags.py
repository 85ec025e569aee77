"""Presentation filters of the dashboard: money in soles, dates in Lima, state badges."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import template
from django.utils.translation import gettext_lazy

register = template.Library()

LIMA = ZoneInfo("America/Lima")


@register.filter
def soles(value: Any) -> str:
    """12.9 -> "S/ 12.90"; thousands with a comma ("S/ 1,234.50"), as shops in Peru print them."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return "—"
    return f"S/ {amount:,.2f}"


@register.filter
def lima(value: Any, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """An aware datetime shown in America/Lima ("21/10/2025 17:11"); naive ones are Lima already."""
    if not isinstance(value, dt.datetime):
        return "—" if value in (None, "") else str(value)
    if value.tzinfo is not None:
        value = value.astimezone(LIMA)
    return value.strftime(fmt)


@register.filter
def lima_date(value: Any) -> str:
    return lima(value, "%d/%m/%Y")


# Marked where written so makemessages finds them (a gettext call on a variable is never extracted).
STATE_LABELS = {"pendiente": gettext_lazy("Pendiente"), "validada": gettext_lazy("Validada"),
                "rechazada": gettext_lazy("Rechazada")}


@register.filter
def state_label(estado: str) -> str:
    return str(STATE_LABELS.get(str(estado).lower(), estado))


@register.filter
def short_id(value: str) -> str:
    """The last 6 hex digits of an ObjectId: its first ones are a timestamp, alike between neighbours."""
    return str(value)[-6:]


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: Any) -> str:
    """The current query string with some keys changed (None removes): links that keep the filters."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    encoded = urlencode(sorted((k, v) for k in params for v in params.getlist(k) if v != ""))
    return f"?{encoded}" if encoded else "?"


@register.filter
def service_label(service: str) -> str:
    """"productos_y_ofertas" -> "productos", as the banners name them."""
    from dashboard.errors import SERVICE_LABELS

    return str(SERVICE_LABELS.get(service, service))


@register.filter
def emission_date(value: Any) -> str:
    """A prescription's emission day as the validation reads it (a bare date is stored as midnight UTC)."""
    from dashboard.services.prescriptions import emission_day

    if not isinstance(value, dt.datetime):
        return "—"
    return emission_day(value).strftime("%d/%m/%Y")


@register.filter
def change_value(value: Any) -> str:
    """A field the prescriptions service changed, readable: product lines as "2 × Nombre (ID 40)"."""
    if isinstance(value, list):
        return "; ".join(f"{line.get('cantidad')} × {line.get('nombre')} (ID {line.get('id')})"
                         for line in value if isinstance(line, dict)) or "—"
    return "—" if value in (None, "") else str(value)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """`mapping[key]` in a template (None when absent or not a mapping)."""
    return mapping.get(key) if isinstance(mapping, dict) else None
