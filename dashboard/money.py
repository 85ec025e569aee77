"""Money: `Decimal` rounded half-up to 2 places (céntimos), and how it goes on the wire."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENTS = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal | int | float | str) -> Decimal:
    """`value` rounded half-up to céntimos; floats go through `str` so 2.675 stays 2.675, not 2.67499..."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return amount.quantize(CENTS, rounding=ROUND_HALF_UP)


def money_wire(value: Decimal | None) -> float | None:
    """The JSON number for an amount (the API promises numbers, not strings)."""
    return None if value is None else float(money(value))
