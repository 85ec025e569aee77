"""The purchase saga: unknown outcomes resolved, one key never buys twice, the journal, the cache failing.

Unit tests over `responses`; the same scenarios against the sandbox over real HTTP are in
tests/integration/test_durable_purchases.py.
"""
from __future__ import annotations

import json

import pytest
import requests
from django.core.cache import cache

from dashboard import metrics
from dashboard.appendlog import FileLog
from dashboard.services.purchase_saga.journal import Journal, journal
from tests.conftest import PRODUCTS, USERS
from tests.payloads import offer_payload, product_payload, purchase_payload
from tests.services.test_purchases_support import (
    LANDS_THEN_TIMES_OUT,
    FakeProducts,
    calls,
    mock_create,
    mock_me,
    product_url,
    purchase_world,
    sent,
)

URL = "/api/orchestrator/compras"
COMPRAS = f"{USERS}/api/compras"
MINE = f"{USERS}/api/compras/me"
AUTH = {"HTTP_AUTHORIZATION": "Bearer cabecera.cuerpo.firma"}
BODY = {"productos": [{"producto_id": 1, "cantidad": 2}]}


def post(client, body=BODY, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **AUTH, **headers)


class LateRegistration:
    """POST /api/compras that is stored but answers after the caller gave up; the listing shows it
    from the `visible_after`-th listing on (0: at once)."""

    def __init__(self, mocked, *, stored: bool = True, visible_after: int = 0):
        self.stored, self.visible_after, self.listings, self.posts = stored, visible_after, 0, 0
        mocked.add_callback("POST", COMPRAS, callback=self._post)
        mocked.add_callback("GET", MINE, callback=self._list)

    def _post(self, request):
        self.posts += 1
        raise requests.exceptions.ReadTimeout("stored, but the answer never came")

    def _list(self, request):
        self.listings += 1
        visible = self.stored and self.listings > self.visible_after
        body = [purchase_payload(77, productos=[1], cantidades=[2], fecha="2999-01-01T00:00:00")] if visible else []
        return 200, {}, json.dumps(body)


@pytest.fixture
def world(mocked, settings):
    settings.PURCHASE_GRACE_SECONDS = 0  # exactly one look while answering
    return purchase_world(mocked, product_payload(1, stock=10), create=False)


def events(settings) -> list[dict]:
    with open(settings.PURCHASE_JOURNAL) as handle:
        return [json.loads(line) for line in handle]


# A registration whose answer is lost ---------------------------------------------------------------
def test_saga_late_registration_found_within_the_grace_window_is_the_purchase(client, mocked, world, settings):
    settings.PURCHASE_GRACE_SECONDS = 5
    late = LateRegistration(mocked, visible_after=1)
    response = post(client)
    assert response.status_code == 201 and response.json()["id"] == 77
    assert world.stock(1) == 8 and late.posts == 1 and late.listings >= 2
    assert [e["estado"] for e in events(settings) if e["evento"] == "fin"] == ["registrada"]


def test_saga_unknown_registration_keeps_the_stock_and_answers_504_with_a_key(client, mocked, world):
    late = LateRegistration(mocked, visible_after=10**6)
    response = post(client)
    body = response.json()
    assert response.status_code == 504 and body["details"]["code"] == "resultado_incierto"
    assert body["details"]["servicio"] == "usuarios_y_autenticacion_y_compras"
    key = response["Idempotency-Key"]
    assert key and body["details"]["idempotency_key"] == key
    assert world.stock(1) == 8 and late.posts == 1


def test_saga_repeat_with_the_key_answers_the_real_outcome_and_never_registers_again(client, mocked, world):
    late = LateRegistration(mocked, visible_after=1)
    first = post(client, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 504  # not visible during the grace window (one look)
    again = post(client, HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 201 and again.json()["id"] == 77 and again["Idempotent-Replayed"] == "true"
    assert post(client, HTTP_IDEMPOTENCY_KEY="k1").json() == again.json()
    assert late.posts == 1 and world.stock(1) == 8


def test_saga_generated_key_resolves_like_the_clients_own(client, mocked, world):
    late = LateRegistration(mocked, visible_after=1)
    first = post(client)
    again = post(client, HTTP_IDEMPOTENCY_KEY=first["Idempotency-Key"])
    assert (first.status_code, again.status_code) == (504, 201) and late.posts == 1


def test_saga_repeat_before_settling_stays_uncertain_and_keeps_the_stock(client, mocked, world):
    late = LateRegistration(mocked, stored=False)
    assert post(client, HTTP_IDEMPOTENCY_KEY="k2").status_code == 504
    again = post(client, HTTP_IDEMPOTENCY_KEY="k2")
    assert again.status_code == 504 and again.json()["details"]["code"] == "resultado_incierto"
    assert late.posts == 1 and world.stock(1) == 8


def test_saga_registration_never_seen_after_settling_gives_the_stock_back_once(client, mocked, world, settings):
    late = LateRegistration(mocked, stored=False)
    assert post(client, HTTP_IDEMPOTENCY_KEY="k3").status_code == 504
    settings.PURCHASE_SETTLE_SECONDS = 0
    resolved = post(client, HTTP_IDEMPOTENCY_KEY="k3")
    body = resolved.json()
    assert resolved.status_code == 502 and body["details"]["code"] == "compra_no_registrada"
    assert body["details"]["compensacion"] == {"estado": "devuelto"} and world.stock(1) == 10
    assert post(client, HTTP_IDEMPOTENCY_KEY="k3").json() == body and world.stock(1) == 10
    assert late.posts == 1


def test_saga_the_journal_answers_a_repeat_when_the_cache_forgot_the_key(client, mocked, world):
    late = LateRegistration(mocked, visible_after=1)
    assert post(client, HTTP_IDEMPOTENCY_KEY="k4").status_code == 504
    cache.clear()  # a restart with a process-local cache, or an evicted key
    again = post(client, HTTP_IDEMPOTENCY_KEY="k4")
    assert again.status_code == 201 and late.posts == 1 and world.stock(1) == 8


def test_saga_a_purchase_claimed_by_one_attempt_is_not_taken_by_another(client, mocked, world):
    LateRegistration(mocked, visible_after=0)
    assert post(client, HTTP_IDEMPOTENCY_KEY="a").status_code == 201
    # Same products and quantities, its answer lost too, and only purchase 77 is listed: not ours.
    second = post(client, HTTP_IDEMPOTENCY_KEY="b")
    assert second.status_code == 504 and world.stock(1) == 6


def test_saga_a_5xx_registration_that_stored_nothing_is_given_back_at_once(client, mocked, world):
    mock_create(mocked, status=500)
    mocked.get(MINE, json=[])
    response = post(client)
    assert response.status_code == 502 and response.json()["details"]["compensacion"] == {"estado": "devuelto"}
    assert world.stock(1) == 10 and calls(mocked, "GET", MINE) == 1


def test_saga_a_5xx_registration_that_cannot_be_checked_keeps_the_stock(client, mocked, world):
    mock_create(mocked, status=500)
    mocked.get(MINE, status=503, json={"error": "caído"})  # could not check: not "not there"
    response = post(client)
    assert response.status_code == 504 and response.json()["details"]["code"] == "resultado_incierto"
    assert world.stock(1) == 8


def test_saga_a_registration_answered_2xx_with_an_unusable_body_is_never_given_back(client, mocked, world):
    mocked.add("POST", COMPRAS, body="{no es json", status=200)
    mocked.get(MINE, json=[])  # stored, but not listed yet
    response = post(client)
    assert response.status_code == 504 and response.json()["details"]["code"] == "resultado_incierto"
    assert world.stock(1) == 8  # the service said it stored it: the units stay with it


def test_saga_a_5xx_registration_that_stored_it_anyway_is_the_purchase(client, mocked, world):
    mock_create(mocked, status=500)
    mocked.get(MINE, json=[purchase_payload(80, productos=[1], cantidades=[2], fecha="2999-01-01T00:00:00")])
    response = post(client)
    assert response.status_code == 201 and response.json()["id"] == 80 and world.stock(1) == 8


def test_saga_a_registration_never_sent_gives_the_stock_back(client, mocked, world):
    mocked.add("POST", COMPRAS, body=requests.exceptions.ConnectionError(
        __import__("urllib3").exceptions.NewConnectionError(None, "refused")))
    response = post(client)
    assert response.status_code == 503 and response.json()["details"]["compensacion"] == {"estado": "devuelto"}
    assert world.stock(1) == 10 and calls(mocked, "GET", MINE) == 0


# Stock writes with an unknown outcome --------------------------------------------------------------
def test_saga_a_late_stock_write_loses_no_unit(client, mocked, world, settings):
    world.put_failures[1] = [LANDS_THEN_TIMES_OUT]
    response = post(client)
    assert response.status_code == 504 and response.json()["details"]["compensacion"] == {"estado": "devuelto"}
    assert world.stock(1) == 10 and sent(mocked, "PUT", product_url(1)) == [{"stock": 8}, {"stock": 10}]
    steps = [e["estado"] for e in events(settings) if e["evento"] == "stock"]
    assert steps == ["incierto", "restaurado"]


# Errors after registration ---------------------------------------------------------------------------
def test_saga_an_error_after_registering_answers_201_with_what_is_known(client, mocked, settings):
    purchase_world(mocked, product_payload(1, stock=10))
    mocked.replace("GET", f"{PRODUCTS}/api/ofertas/all",
                   body='[{"id": 1, "fecha_vencimiento": "2999-01-01T00:00:00", "detalles": '
                        '[{"producto_id": 1, "descuento": NaN, "id": 1}]}]')
    response = post(client, HTTP_IDEMPOTENCY_KEY="nan")
    body = response.json()
    if response.status_code == 502:  # hostile upstream JSON refused before any write is fine too
        assert calls(mocked, "PUT", product_url(1)) == 0
        return
    assert response.status_code == 201 and body["id"] and body["total"] is None and body["advertencias"]
    assert post(client, HTTP_IDEMPOTENCY_KEY="nan").json() == body
    assert calls(mocked, "POST", COMPRAS) == 1
    json.dumps(body, allow_nan=False)  # nothing that is not JSON


def test_saga_a_receipt_that_cannot_be_built_is_still_a_201(client, mocked, monkeypatch):
    purchase_world(mocked, product_payload(1, stock=10))

    def broken(*args, **kwargs):
        raise ArithmeticError("a discount that is not a number")
    monkeypatch.setattr("dashboard.services.purchases.register._best_discount", broken)
    errors_before = metrics.receipt_errors._value.get()
    response = post(client, HTTP_IDEMPOTENCY_KEY="roto")
    assert metrics.receipt_errors._value.get() == errors_before + 1  # logged and counted
    body = response.json()
    assert response.status_code == 201 and body["id"] == 15 and body["total"] is None and body["advertencias"]
    assert body["productos_detalle"] == [{"producto_id": 1, "cantidad": 1}] or body["productos_detalle"]
    assert post(client, HTTP_IDEMPOTENCY_KEY="roto").status_code == 201 and calls(mocked, "POST", COMPRAS) == 1


# Input JSON cannot carry back ------------------------------------------------------------------------
LINE = '"productos": [{"producto_id": 1, "cantidad": 2}]'


@pytest.mark.parametrize("raw", [f'{{{LINE}, "datos_adicionales": {{"x": 1e309}}}}',
                                 f'{{{LINE}, "datos_adicionales": {{"x": NaN}}}}',
                                 f'{{{LINE}, "x": -Infinity}}'])
def test_saga_input_json_cannot_carry_back_is_refused_before_any_write(client, mocked, raw):
    mock_me(mocked)
    response = client.post(URL, data=raw, content_type="application/json", **AUTH)
    assert response.status_code == 400 and response.json()["details"]["code"] == "json_invalido"
    assert calls(mocked, "PUT", product_url(1)) == 0


# The cache failing ---------------------------------------------------------------------------------
def test_saga_cache_down_answers_503_and_takes_nothing(client, mocked, monkeypatch):
    fake = purchase_world(mocked, product_payload(1, stock=10))

    def down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis")
    monkeypatch.setattr(cache, "add", down)
    response = post(client, HTTP_IDEMPOTENCY_KEY="x")
    assert response.status_code == 503 and response.json()["details"]["code"] == "cache_no_disponible"
    assert int(response["Retry-After"]) >= 1 and fake.stock(1) == 10
    assert calls(mocked, "PUT", product_url(1)) == 0


def test_saga_cache_dying_after_the_stock_was_taken_still_ends_consistently(client, mocked, monkeypatch, settings):
    def gone(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis")

    class CacheDiesAfterTheWrite(FakeProducts):
        def _put(self, request):
            answer = super()._put(request)
            for name in ("add", "get", "set", "delete", "touch", "get_many", "set_many"):
                monkeypatch.setattr(cache, name, gone)
            return answer
    fake = purchase_world(mocked, product_payload(1, stock=10), fake_class=CacheDiesAfterTheWrite)
    response = post(client, HTTP_IDEMPOTENCY_KEY="y")
    # The locks are no longer needed and the journal does not live in the cache: the purchase ends.
    assert response.status_code == 201 and fake.stock(1) == 8 and calls(mocked, "POST", COMPRAS) == 1
    assert [e["estado"] for e in events(settings) if e["evento"] == "fin"] == ["registrada"]


# The journal ---------------------------------------------------------------------------------------
def test_journal_is_appended_and_fsynced_line_by_line(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr("os.fsync", lambda fd: synced.append(fd))
    log = FileLog(tmp_path / "var" / "j.jsonl")
    log.append(b'{"a": 1}\n')
    log.append(b'{"a": 2}\n')
    assert (tmp_path / "var" / "j.jsonl").read_bytes() == b'{"a": 1}\n{"a": 2}\n' and len(synced) >= 2


def test_journal_reads_what_another_process_appended_and_skips_a_torn_line(tmp_path):
    path = tmp_path / "j.jsonl"
    ours, theirs = Journal(FileLog(path)), Journal(FileLog(path))
    attempt = ours.begin(dni="1", usuario_id=None, items=[(1, 2)], clave="c", huella="h", stock=[],
                         request_id="r")
    with path.open("ab") as handle:
        handle.write(b'{"intento": "x", "evento": "ini')  # a process killed mid-write
    assert theirs.find_by_key("c").id == attempt.id and [a.id for a in theirs.open_attempts()] == [attempt.id]


def test_journal_writes_no_token_or_password(client, mocked, world, settings):
    LateRegistration(mocked, visible_after=0)
    post(client)
    text = open(settings.PURCHASE_JOURNAL).read()
    assert "cabecera.cuerpo.firma" not in text and "password" not in text and journal().describe()


def test_saga_offers_are_applied_from_the_journaled_draft(client, mocked, settings):
    settings.PURCHASE_GRACE_SECONDS = 0
    purchase_world(mocked, product_payload(1, stock=10, precio=10.0), create=False,
                   offers=[offer_payload(1, detalles=[(1, 10.0)])])
    LateRegistration(mocked, visible_after=1)
    assert post(client, HTTP_IDEMPOTENCY_KEY="o").status_code == 504
    body = post(client, HTTP_IDEMPOTENCY_KEY="o").json()
    assert body["productos_detalle"][0]["precio_final"] == 9.0 and body["total"] == 18.0


def test_journal_takes_three_fsyncs_per_purchase_each_before_the_step_it_covers(client, mocked, settings,
                                                                               monkeypatch):
    # inicio before any stock write; the confirmed writes with "sent" in one append before the
    # registration goes out; registrada written at once and made durable by the fsync of fin,
    # before answering.
    purchase_world(mocked, product_payload(1, stock=10), product_payload(2, stock=10), product_payload(3, stock=10))
    appends = []
    original = FileLog.append

    def append(self, line, *, sync=True):
        puts = sum(calls(mocked, "PUT", product_url(p)) for p in (1, 2, 3))
        appends.append(([json.loads(x)["evento"] for x in line.splitlines()], sync, puts,
                        calls(mocked, "POST", COMPRAS)))
        original(self, line, sync=sync)

    monkeypatch.setattr(FileLog, "append", append)
    body = {"productos": [{"producto_id": p, "cantidad": 1} for p in (1, 2, 3)]}
    assert post(client, body).status_code == 201
    assert appends == [(["inicio"], True, 0, 0), (["stock", "stock", "stock", "registro"], True, 3, 0),
                       (["registro"], False, 3, 1), (["fin"], True, 3, 1)]
    steps = {e["producto_id"]: e["estado"] for e in events(settings) if e["evento"] == "stock"}
    assert steps == {1: "tomado", 2: "tomado", 3: "tomado"}


def test_journal_registration_is_synced_before_an_error_answer_after_registering(client, mocked, monkeypatch):
    purchase_world(mocked, product_payload(1, stock=10))
    order = []
    original_append, original_sync = FileLog.append, FileLog.sync

    def append(self, line, *, sync=True):
        order.append((json.loads(line.splitlines()[-1])["evento"], sync))
        original_append(self, line, sync=sync)

    def sync(self):
        order.append(("sync", True))
        original_sync(self)

    def broken(receipt):
        raise RuntimeError("a bug while answering")

    monkeypatch.setattr(FileLog, "append", append)
    monkeypatch.setattr(FileLog, "sync", sync)
    monkeypatch.setattr("dashboard.services.purchases.receipt_to_wire", broken)
    client.raise_request_exception = False
    assert post(client, HTTP_IDEMPOTENCY_KEY="roto").status_code == 500
    assert order[-2:] == [("registro", False), ("sync", True)]


def test_file_log_append_without_sync_is_made_durable_by_the_next_sync(tmp_path, monkeypatch):
    log = FileLog(tmp_path / "j.jsonl")
    log.append(b'{"a": 1}\n')  # creates the file: synced (and its folder)
    synced = []
    monkeypatch.setattr("os.fsync", lambda fd: synced.append(fd))
    log.append(b'{"a": 2}\n', sync=False)
    assert synced == []
    log.append(b'{"a": 3}\n')
    log.sync()
    assert len(synced) == 2 and (tmp_path / "j.jsonl").read_bytes() == b'{"a": 1}\n{"a": 2}\n{"a": 3}\n'


def test_journal_records_the_failed_writes_before_giving_back(client, mocked, world, settings, monkeypatch):
    world.put_failures[1] = [503]
    appends = []
    original = FileLog.append

    def append(self, line, *, sync=True):
        appends.append(([json.loads(x)["evento"] for x in line.splitlines()], calls(mocked, "PUT", product_url(1))))
        original(self, line, sync=sync)

    monkeypatch.setattr(FileLog, "append", append)
    assert post(client).status_code == 502
    # The write's unknown outcome is journaled before the restoring write, which is journaled after.
    assert appends[:3] == [(["inicio"], 0), (["stock"], 1), (["stock"], 2)] and appends[-1] == (["fin"], 2)
    assert [e["estado"] for e in events(settings) if e["evento"] == "stock"] == ["incierto", "restaurado"]
    assert calls(mocked, "POST", COMPRAS) == 0


def test_journal_events_appended_together_are_one_rpush_of_separate_lines(monkeypatch):
    from dashboard.appendlog import RedisLog

    pushed = []

    class Client:
        def rpush(self, key, *values):
            pushed.append(values)

    monkeypatch.setattr(RedisLog, "client", lambda self: Client())
    Journal(RedisLog("diario")).record_many([{"intento": "a", "evento": "x"}, {"intento": "a", "evento": "y"}])
    assert [[json.loads(v)["evento"] for v in values] for values in pushed] == [["x", "y"]]


def test_journal_is_read_once_per_new_purchase(client, mocked, monkeypatch):
    # The key is looked up in the journal (other processes may know it); the attempt this request
    # runs is then only written, never read back from the file.
    purchase_world(mocked, product_payload(1, stock=10))
    reads = []
    original = FileLog.read_from
    monkeypatch.setattr(FileLog, "read_from", lambda self, cursor: (reads.append(cursor), original(self, cursor))[1])
    assert post(client).status_code == 201
    assert len(reads) == 1
