"""The shipped Grafana dashboard and Prometheus alert rules ask only for metrics that kiegen really exports: a
running ``kiegen serve`` is put through a few generations (webhooks delivered, a forged and an unknown callback),
its /metrics is scraped, and every metric named by a query (parsed as PromQL) must be among the samples."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.deployment import deployed
from tests.ops.procs import ROOT

pytestmark = pytest.mark.slow

DASHBOARD = ROOT / "deploy" / "grafana" / "kiegen.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_OWN = {"up"}
"""Series Prometheus writes itself for every scrape target (not in any /metrics)."""

_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The sample names of a scrape of a service that has done some work."""
    with deployed(tmp_path_factory.mktemp("monitored")) as app:
        for _ in range(2):
            assert app.generate()["status"] == "succeeded"
        forged = httpx.post(f"{app.url}/callbacks/kie/0123456789abcdef?token=forged", content=b"{}", timeout=10)
        assert forged.status_code == 403
        unknown = httpx.post(f"{app.url}/callbacks/kie", json={"data": {"taskId": "nobody"}}, timeout=10)
        assert unknown.status_code == 404
        app.service.wait_until(lambda: len(app.receiver.payloads) == 2, what="both webhooks")
        text = httpx.get(f"{app.url}/metrics", timeout=10).text
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, from its syntax tree (a syntax error fails the test)."""
    for variable, value in _GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    expr = re.sub(r"\$\{?(\w+)\}?", "x", expr)  # dashboard variables inside label matchers
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expr!r}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def _dashboard_queries() -> Iterator[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((\w+),\s*\w+\)", variable["query"]["query"])
            assert match, variable
            yield f"variable {variable['name']}", match.group(1)


def _alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_dashboard_queries_name_only_metrics_that_metrics_exports(exported: set[str]) -> None:
    queries = list(_dashboard_queries())
    assert len(queries) >= 15
    missing = {(where, name) for where, expr in queries for name in metric_names(expr) if name not in exported}
    assert missing == set(), sorted(exported)


def test_every_dashboard_panel_asks_prometheus_through_the_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "kiegen" and dashboard["schemaVersion"] >= 36
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "job"}
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]


def test_the_alert_rules_name_only_exported_metrics_and_say_what_to_do(exported: set[str]) -> None:
    rules = _alert_rules()
    names = {rule["alert"] for rule in rules}
    assert {
        "KiegenDown",
        "KiegenJobsAllFailing",
        "KiegenKie5xxRate",
        "KiegenCallbacksRefused",
        "KiegenDeliveryBacklog",
    } <= names
    for rule in rules:
        used = metric_names(rule["expr"])
        assert used - exported - PROMETHEUS_OWN == set(), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def test_a_misspelled_metric_would_be_caught(exported: set[str]) -> None:
    # the check is not vacuous: a counter asked for without its _total suffix is not exported
    assert metric_names('sum(rate(kiegen_callback_4xx{job="kiegen"}[5m]))') == {"kiegen_callback_4xx"}
    assert "kiegen_callback_4xx" not in exported
    assert "kiegen_callback_4xx_total" in exported
    with pytest.raises(ValueError, match="parenthesis"):
        metric_names("sum(rate(kiegen_jobs[5m])")
