"""Money and dates as the dashboard prints them."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.test import RequestFactory

from dashboard.templatetags.dashboard_tags import emission_date, lima, query_with, soles


def test_soles_two_decimals_half_up():
    assert soles(Decimal("12.9")) == "S/ 12.90"
    assert soles(2.675) == "S/ 2.68"


def test_soles_groups_thousands():
    assert soles(Decimal("10229.2")) == "S/ 10,229.20"


def test_soles_none_is_a_dash():
    assert soles(None) == "—"


def test_lima_converts_from_utc():
    assert lima(dt.datetime(2025, 10, 21, 22, 11, tzinfo=dt.UTC)) == "21/10/2025 17:11"


def test_emission_date_reads_midnight_utc_as_the_written_day():
    assert emission_date(dt.datetime(2025, 10, 15, tzinfo=dt.UTC)) == "15/10/2025"


def test_query_with_changes_one_key_and_keeps_the_rest():
    request = RequestFactory().get("/compras?desde=2025-01-01&page=3")
    assert query_with({"request": request}, page=4) == "?desde=2025-01-01&page=4"
    assert query_with({"request": request}, page=None) == "?desde=2025-01-01"
