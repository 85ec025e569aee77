"""The purchase journal stays bounded: attempts resolved more than PURCHASE_JOURNAL_KEEP_DAYS ago are
forgotten in memory and compacted out of the log, never an open or recent one, never a line appended
while the compaction ran."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest
from django.core.management import call_command

from dashboard.appendlog import FileLog
from dashboard.services.purchase_saga.journal import Journal, journal

DAY = 86400


def line(event: dict) -> bytes:
    return (json.dumps(event) + "\n").encode()


def attempt_events(aid: str, *, started: float, resolved: float | None, clave: str | None = None,
                   compra_id: int | None = None) -> list[dict]:
    events = [{"intento": aid, "evento": "inicio", "dni": "40123456", "usuario_id": 2, "productos": [[1, 1]],
               "clave": clave, "huella": "h", "inicio": started, "request_id": "r", "ts": started,
               "stock": [{"producto_id": 1, "cantidad": 1, "antes": 5, "despues": 4}]},
              {"intento": aid, "evento": "stock", "producto_id": 1, "estado": "tomado", "ts": started}]
    if compra_id is not None:
        events.append({"intento": aid, "evento": "registro", "estado": "registrada", "compra_id": compra_id,
                       "ts": started})
    if resolved is not None:
        events.append({"intento": aid, "evento": "fin", "estado": "registrada", "status": 201,
                       "body": {"id": compra_id}, "ts": resolved})
    return events


@pytest.fixture
def history(tmp_path, settings):
    """A journal file with: an attempt resolved 10 days ago, one resolved an hour ago, and one left
    open 10 days ago (a crash nobody reconciled)."""
    settings.PURCHASE_JOURNAL_KEEP_DAYS = 7
    path = tmp_path / "diario.jsonl"
    now = time.time()
    log = FileLog(path)
    for event in (attempt_events("viejo", started=now - 10 * DAY, resolved=now - 10 * DAY, clave="k-viejo",
                                 compra_id=1)
                  + attempt_events("reciente", started=now - 3600, resolved=now - 3600, clave="k-reciente",
                                   compra_id=2)
                  + attempt_events("abierto", started=now - 10 * DAY, resolved=None, clave="k-abierto")):
        log.append(line(event))
    return path


def test_attempts_resolved_before_the_window_are_forgotten_in_memory(history):
    j = Journal(FileLog(history))
    assert {a.id for a in j.all_attempts()} == {"reciente", "abierto"}
    assert j.find_by_key("k-viejo") is None  # past the replay window
    assert j.find_by_key("k-reciente").id == "reciente"
    assert j.claimed_by(1) is None and j.claimed_by(2) == "reciente"
    assert [a.id for a in j.open_attempts()] == ["abierto"]


def test_compaction_drops_only_the_expired_attempts_events(history):
    j = Journal(FileLog(history))
    result = j.compact()
    assert result["intentos_eliminados"] == 1 and result["eventos_eliminados"] == 4
    first, *rest = [json.loads(x) for x in history.read_bytes().splitlines()]
    assert first["evento"] == "compactado"  # the generation's own first line
    assert {e["intento"] for e in rest} == {"reciente", "abierto"}
    assert {a.id for a in Journal(FileLog(history)).all_attempts()} == {"reciente", "abierto"}


def test_a_process_reading_the_log_before_it_was_compacted_reads_it_anew_and_keeps_its_attempts(history):
    ours, compactor = Journal(FileLog(history)), Journal(FileLog(history))
    held = ours.get("abierto")
    compactor.compact()
    # After the compaction another process resolves the open attempt (appended to the new file).
    FileLog(history).append(line({"intento": "abierto", "evento": "fin", "estado": "devuelta", "status": 502,
                                  "body": {}, "ts": time.time()}))
    assert ours.get("abierto") is held  # the same object a purchase under way may hold
    assert held.resolved and held.fin["estado"] == "devuelta"
    assert ours.find_by_key("k-reciente").id == "reciente"


def test_appends_racing_with_compactions_are_never_lost(tmp_path):
    path = tmp_path / "diario.jsonl"
    writers, per_writer = 4, 150
    stop = threading.Event()

    def append(number: int) -> None:
        log = FileLog(path)
        for i in range(per_writer):
            log.append(line({"intento": f"w{number}-{i}", "evento": "stock"}), sync=False)

    def compact() -> None:
        log = FileLog(path)
        while not stop.is_set():
            log.compact(lambda raw: not raw.startswith(b'{"intento": "basura'))
            FileLog(path).append(line({"intento": "basura", "evento": "x"}), sync=False)

    compactor = threading.Thread(target=compact)
    compactor.start()
    threads = [threading.Thread(target=append, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    compactor.join()
    ids = [e["intento"] for e in map(json.loads, path.read_bytes().splitlines()) if e["evento"] != "compactado"]
    written = [i for i in ids if i.startswith("w")]
    assert sorted(written) == sorted(f"w{n}-{i}" for n in range(writers) for i in range(per_writer))
    assert ids.count("basura") <= 1  # each compaction removed the line the previous round added


def test_compact_journal_command_reports_what_it_dropped(history, settings, capsys):
    settings.PURCHASE_JOURNAL = str(history)
    call_command("compact_journal")
    out = capsys.readouterr().out
    assert "1 intentos resueltos hace más de 7 días eliminados (4 eventos)" in out
    assert {a.id for a in journal().all_attempts()} == {"reciente", "abierto"}


def test_the_keep_window_cannot_be_shorter_than_the_replay_window(monkeypatch):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True,
                            env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "portal.settings",
                                 "PURCHASE_JOURNAL_KEEP_DAYS": "0.5"})
    assert result.returncode != 0 and "PURCHASE_JOURNAL_KEEP_DAYS" in result.stderr


def test_a_reader_notices_a_compaction_even_when_the_file_system_reuses_the_inode(history, monkeypatch):
    # Two compactions between two reads can hand the new file the inode number the reader saw.
    ours, compactor = Journal(FileLog(history)), Journal(FileLog(history))
    ours.refresh()

    def replace_in_place(source, target):  # same inode, new content: what inode reuse looks like
        data = open(source, "rb").read()
        with open(target, "r+b") as handle:
            handle.write(data)
            handle.truncate()
        os.remove(source)

    monkeypatch.setattr(os, "replace", replace_in_place)
    compactor.compact()
    FileLog(history).append(line({"intento": "abierto", "evento": "fin", "estado": "devuelta", "status": 502,
                                  "body": {}, "ts": time.time()}))
    assert ours.get("abierto").resolved
