"""docs/ops: alert rules and Grafana dashboard refer only to metrics and labels /metrics really has,
and promtool (Debian's prometheus package) accepts and unit-tests the rules."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from dashboard import metrics
from tests.conftest import system_tool

OPS = Path(__file__).resolve().parents[1] / "docs" / "ops"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
SELECTOR = re.compile(r"(orchestrator_[a-z_]+)(?:\{([^}]*)\})?")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r'(\w+)\s*(?:=~|!=|!~|=)\s*"([^"]*)"')
KNOWN_VALUES = {"state": set(metrics.BREAKER_STATES), "outcome": set(metrics.PURCHASE_OUTCOMES)
                | {"success", "client_error", "server_error", "timeout", "unreachable", "invalid_response",
                   "circuit_open", "error"}}


def exposed() -> dict[str, set[str]]:
    """Every sample name the metrics module can expose -> its label names."""
    names: dict[str, set[str]] = {}
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for suffix in SUFFIXES[collector._type]:
                labels = set(collector._labelnames) | ({"le"} if suffix == "_bucket" else set())
                names[collector._name + suffix] = labels
    return names


def expressions() -> list[tuple[str, str]]:
    rules = [(f"alerts.yml {r['alert']}", r["expr"])
             for group in yaml.safe_load((OPS / "alerts.yml").read_text(encoding="utf-8"))["groups"]
             for r in group["rules"]]
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text(encoding="utf-8"))
    panels = [(f"grafana {p['title']}", t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    return rules + panels


def test_the_ops_files_hold_the_expected_alerts_and_panels():
    where = [w for w, _e in expressions()]
    for alert in ("OrquestadorCircuitoAbierto", "OrquestadorComprasInciertas", "OrquestadorLatenciaP95Alta",
                  "OrquestadorErrores5xx"):
        assert f"alerts.yml {alert}" in where
    assert sum(w.startswith("grafana") for w in where) >= 10


@pytest.mark.parametrize(("where", "expr"), expressions())
def test_every_metric_and_label_named_in_the_ops_files_exists(where, expr):
    names = exposed()
    selectors = SELECTOR.findall(expr)
    assert selectors, f"{where}: no orchestrator metric"
    used_labels: set[str] = set()
    for name, matchers in selectors:
        assert name in names, f"{where}: {name} is not exposed"
        for label, label_value in MATCHER.findall(matchers):
            assert label in names[name], f"{where}: {name} has no label {label}"
            if label in KNOWN_VALUES and not set(label_value.split("|")) <= KNOWN_VALUES[label]:
                raise AssertionError(f"{where}: {label}={label_value!r} never exposed")
        used_labels |= names[name]
    for group in GROUPING.findall(expr):
        for label in filter(None, (g.strip() for g in group.split(","))):
            assert label in used_labels, f"{where}: grouping by {label}, which its metrics do not have"


def test_the_dashboard_uses_a_datasource_variable_and_distinct_panel_ids():
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text(encoding="utf-8"))
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(t["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"] for t in p["targets"])


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    binary = system_tool("promtool", "prometheus")
    return subprocess.run([binary, *args], cwd=OPS, input=stdin, capture_output=True, timeout=120, check=False)


def test_promtool_accepts_the_rules_and_the_scrape_config():
    result = promtool("check", "config", "prometheus.yml")  # checks alerts.yml through rule_files too
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_promtool_unit_tests_of_the_alerts_pass():
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_promtool_lints_the_exposition(client):
    client.get("/api/orchestrator/health")
    metrics.observe_upstream("productos_y_ofertas", "/api/productos/{id}", "GET", "success", 0.01)
    metrics.record_rate_limited("api")
    metrics.record_cache_error("get")
    result = promtool("check", "metrics", stdin=client.get("/metrics").content)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
