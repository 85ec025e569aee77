"""Fan-out per request, the fair per-upstream in-flight limit, and product fetches shared between requests."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from dashboard import context
from dashboard.clients.products import ProductsClient
from dashboard.concurrency import FairLimiter, gather, limiter_for
from dashboard.errors import UpstreamTimeout
from dashboard.services.purchases import purchases_list
from dashboard.services.purchases.listing import _in_flight
from tests.conftest import USERS
from tests.payloads import product_payload, purchase_payload
from tests.services.test_purchases_support import FakeProducts, Overlap, buyer, upstreams

MINE = f"{USERS}/api/compras/me"


def many_products_listing(mocked, count: int, overlap: Overlap | None = None) -> FakeProducts:
    fake = FakeProducts(mocked, *(product_payload(pid) for pid in range(1, count + 1)), overlap=overlap)
    mocked.get(MINE, json=[purchase_payload(n, productos=[n], cantidades=[1]) for n in range(1, count + 1)])
    return fake


def test_a_listing_fetches_all_its_distinct_products_at_once(mocked):
    # 40 products: more than the old process-wide cap of 16, so one wave only if nothing caps the fan-out.
    overlap = Overlap(40)
    many_products_listing(mocked, 40, overlap)
    listing = purchases_list(upstreams=upstreams(), caller=buyer(), scope="me")
    assert overlap.max_in_flight == 40 and not any(c.incompleta for c in listing.compras)


def test_one_request_runs_at_most_the_documented_fanout(settings):
    settings.UPSTREAM_REQUEST_FANOUT = 4
    overlap = Overlap(4)
    calls = [overlap.wrap(lambda _request: time.sleep(0.01)) for _ in range(12)]
    gather([lambda call=call: call(None) for call in calls])
    assert overlap.max_in_flight == 4


def test_the_per_upstream_limit_still_holds_for_a_large_listing(mocked, settings):
    settings.UPSTREAM_MAX_CONCURRENCY = 3
    overlap = Overlap(3)
    many_products_listing(mocked, 12, overlap)
    purchases_list(upstreams=upstreams(), caller=buyer(), scope="me")
    assert overlap.max_in_flight == 3


def _queue(limiter: FairLimiter, key: str, order: list[str], label: str) -> threading.Thread:
    def wait() -> None:
        limiter.acquire(key)
        order.append(label)
        limiter.release()

    waiting = sum(len(q) for q in limiter._waiting.values())
    thread = threading.Thread(target=wait)
    thread.start()
    deadline = time.monotonic() + 5
    while sum(len(q) for q in limiter._waiting.values()) == waiting and time.monotonic() < deadline:
        time.sleep(0.001)
    return thread


def test_free_slots_go_round_robin_between_requests():
    limiter = FairLimiter(1)
    assert limiter.acquire("holder")
    order: list[str] = []
    # Request A queues three calls before request B queues one: B still gets the second slot.
    threads = [_queue(limiter, "A", order, "A1"), _queue(limiter, "A", order, "A2"), _queue(limiter, "A", order, "A3"),
               _queue(limiter, "B", order, "B1")]
    limiter.release()
    for thread in threads:
        thread.join(5)
    assert order == ["A1", "B1", "A2", "A3"]
    assert limiter.in_flight == 0


def test_waiting_for_a_slot_past_the_deadline_is_a_504_that_sent_nothing(mocked, settings):
    settings.UPSTREAM_MAX_CONCURRENCY = 1
    limiter = limiter_for("productos_y_ofertas")
    assert limiter.acquire("someone else")
    ctx, token = context.begin("r", deadline_seconds=0.05)
    try:
        with pytest.raises(UpstreamTimeout) as raised:
            ProductsClient().product_get(1)
    finally:
        context.end(token)
        limiter.release()
    assert raised.value.may_have_landed is False and not mocked.calls


def test_concurrent_listings_share_one_fetch_per_product(mocked, settings):
    settings.PRODUCT_CACHE_SECONDS = 0  # shared in flight, not through the cache
    entered, release = threading.Event(), threading.Event()
    fake = FakeProducts(mocked, product_payload(1, nombre="Paracetamol"))
    original = fake._get

    def slow_get(request):
        entered.set()
        release.wait(5)
        return original(request)

    mocked.remove("GET", fake_url_pattern())
    mocked.add_callback("GET", fake_url_pattern(), callback=slow_get)
    mocked.get(MINE, json=[purchase_payload(1, productos=[1], cantidades=[1])])
    results = {}

    def listing(name: str) -> None:
        results[name] = purchases_list(upstreams=upstreams(), caller=buyer(), scope="me")

    first = threading.Thread(target=listing, args=("first",))
    first.start()
    assert entered.wait(5)
    second = threading.Thread(target=listing, args=("second",))
    second.start()
    deadline = time.monotonic() + 5
    while not (1 in _in_flight and _in_flight[1]._condition._waiters) and time.monotonic() < deadline:
        time.sleep(0.001)  # until the second listing waits on the first one's fetch
    release.set()
    first.join(5)
    second.join(5)
    assert fake.gets[1] == 1
    assert [r.compras[0].lines[0].nombre for r in (results["first"], results["second"])] == ["Paracetamol"] * 2


def test_a_shared_fetch_that_fails_is_could_not_check_for_every_listing(mocked, settings):
    settings.PRODUCT_CACHE_SECONDS = 0
    settings.UPSTREAM_GET_RETRIES = 0
    fake = many_products_listing(mocked, 1)
    fake.get_failures[1] = [503]
    listing = purchases_list(upstreams=upstreams(), caller=buyer(), scope="me")
    assert listing.compras[0].incompleta and listing.advertencias


def test_listings_cache_product_details_for_a_few_seconds_by_default():
    from django.conf import settings

    assert 0 < settings.PRODUCT_CACHE_SECONDS <= 10


def test_a_call_that_succeeds_logs_at_debug_only(mocked, caplog):
    FakeProducts(mocked, product_payload(1))
    caplog.set_level(logging.INFO, logger="dashboard.upstream")
    ProductsClient().product_get(1)
    assert not [r for r in caplog.records if r.name == "dashboard.upstream"]
    caplog.set_level(logging.DEBUG, logger="dashboard.upstream")
    ProductsClient().product_get(1)
    assert [r.levelno for r in caplog.records if r.name == "dashboard.upstream"] == [logging.DEBUG]


def fake_url_pattern():
    from tests.services.test_purchases_support import PRODUCT_URL

    return PRODUCT_URL
