"""manifests/monitoring/dashboard.json is a Grafana dashboard whose PromQL parses, and the dashboard and
the alert rules refer only to metrics that exist: those the webhook's and the operator's registries
really register, and the API server metrics listed (with their sources) in ops_testing."""

from __future__ import annotations

from pathlib import Path

import pytest
from ops_testing import (
    APISERVER_METRICS,
    alert_rules,
    as_promql,
    component_metric_names,
    dashboard,
    dashboard_expressions,
    dashboard_panels,
    metric_names,
    promtool,
    recording_rules_file,
    run,
)


def all_expressions() -> dict[str, str]:
    expressions = {f"dashboard: {key}": expr for key, expr in dashboard_expressions(dashboard()).items()}
    expressions.update({f"alert {rule['alert']}": rule["expr"] for rule in alert_rules()})
    return expressions


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        (
            'sum by (result) (rate(k3s_daas_authn_denials_total{reason="expired"}[5m]))',
            {"k3s_daas_authn_denials_total"},
        ),
        ("histogram_quantile(0.99, sum by (le, operation) (rate(a_bucket[$__rate_interval])))", {"a_bucket"}),
        (
            "time() - max(k3s_x_timestamp_seconds) > 60 and on(instance) up_y offset 5m",
            {"k3s_x_timestamp_seconds", "up_y"},
        ),
        ('sum(rate(b_total[5m])) by (instance) / ignoring(le) group_left(job) c{job=~"a|b"} > 1e3', {"b_total", "c"}),
    ],
)
def test_metric_names_are_read_from_promql(expression: str, names: set[str]) -> None:
    assert metric_names(expression) == names


def test_the_dashboard_is_a_grafana_dashboard_with_promql_targets() -> None:
    board = dashboard()
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] == "k3s-daas" and board["title"]
    (variable,) = board["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    panels = dashboard_panels(board)
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24 and position["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        targets = panel["targets"]
        assert targets and len({target["refId"] for target in targets}) == len(targets), panel["title"]
        assert all(target["expr"].strip() for target in targets), panel["title"]


def test_the_dashboard_shows_what_operators_need() -> None:
    shown = set().union(*(metric_names(expr) for expr in dashboard_expressions(dashboard()).values()))
    required = {
        # authentication and admission rates and latencies, denials by reason
        "k3s_daas_authn_request_duration_seconds_count",
        "k3s_daas_authn_request_duration_seconds_bucket",
        "k3s_daas_authn_denials_total",
        "k3s_daas_admission_request_duration_seconds_count",
        "k3s_daas_admission_request_duration_seconds_bucket",
        "k3s_daas_admission_denials_total",
        # chain lag and staleness
        "k3s_daas_operator_chain_lag_seconds",
        "k3s_daas_operator_chain_last_poll_timestamp_seconds",
        "k3s_daas_webhook_chain_staleness_seconds",
        # objects by phase, drains in progress
        "k3s_daas_operator_objects",
        "k3s_daas_operator_drains_in_progress",
    }
    assert required <= shown, required - shown


def test_every_expression_refers_only_to_registered_metrics() -> None:
    known = component_metric_names() | APISERVER_METRICS
    unknown = {
        where: sorted(metric_names(expression) - known)
        for where, expression in all_expressions().items()
        if metric_names(expression) - known
    }
    assert unknown == {}
    for where, expression in all_expressions().items():
        assert metric_names(expression), f"{where} selects no metric"


def test_every_expression_parses(tmp_path: Path) -> None:
    rules = tmp_path / "expressions.yaml"
    expressions = all_expressions()
    rules.write_text(recording_rules_file(expressions.items()))
    result = run([str(promtool()), "check", "rules", str(rules)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout
    assert all("$" not in as_promql(expr) for expr in expressions.values())
