"""deploy/: the Prometheus rules and Grafana dashboards name only metrics the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tftrade.service.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAME = re.compile(r"\btftrade_[a-z_]+\b")


def _exported() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_count", "_sum", "_total", "_info"))
    return names


def test_alert_rules_parse_and_use_exported_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    alerts = {r["alert"] for r in rules}
    assert {"TftradeFeedDown", "TftradeBusLag", "TftradeDrawdownBreaker", "TftradeReconciliationMismatch",
            "TftradeApiErrors"} <= alerts
    used = {n for r in rules for n in NAME.findall(r["expr"])}
    assert used and used <= _exported(), used - _exported()


def test_dashboard_queries_use_exported_metrics() -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "tftrade-desk.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {n for e in exprs for n in NAME.findall(e)}
    assert len(dash["panels"]) >= 10 and used <= _exported(), used - _exported()
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["authorization"]["type"] == "Bearer"


def test_compose_publishes_ports_on_loopback_only() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    ports = [p for s in compose["services"].values() for p in s.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
