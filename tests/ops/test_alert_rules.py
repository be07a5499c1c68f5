"""manifests/monitoring/alerts.yaml: valid for Prometheus (promtool check rules), and every alert fires
on the series of alerts.test.yaml that should fire it and stays silent on the healthy ones
(promtool test rules)."""

from __future__ import annotations

import yaml
from ops_testing import ALERT_TESTS, ALERTS, MONITORING, alert_rules, promtool, run


def test_promtool_accepts_the_rules() -> None:
    result = run([str(promtool()), "check", "rules", str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_every_alert_fires_and_stays_silent_in_promtool_unit_tests() -> None:
    result = run([str(promtool()), "test", "rules", ALERT_TESTS.name], cwd=MONITORING)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_cover_every_alert_both_ways() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]
    firing = {check["alertname"] for check in checks if check["exp_alerts"]}
    names = {rule["alert"] for rule in alert_rules()}
    assert firing == names
    # Silent: every test case also has a series that must not fire (its healthy instance), or an
    # evaluation before the alert's `for` has elapsed.
    for test in tests:
        instances = {series["series"].split('instance="')[1].split('"')[0] for series in test["input_series"]}
        alerted = {
            alert["exp_labels"]["instance"] for check in test["alert_rule_test"] for alert in check["exp_alerts"]
        }
        assert instances - alerted, f"no healthy series in the test of {test['alert_rule_test'][0]['alertname']}"


def test_the_issue_s_alerts_exist_with_a_severity_and_a_runbook() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    # Webhook p99 over budget, chain staleness, failing drains, the API server's webhook errors.
    required = {
        "K3sDaasAuthnLatencyOverBudget",
        "K3sDaasAdmissionLatencyOverBudget",
        "K3sDaasWebhookChainStale",
        "K3sDaasOperatorChainStale",
        "K3sDaasDrainStuck",
        "K3sDaasEvictionsFailing",
        "K3sDaasApiserverAuthnWebhookErrors",
    }
    assert required <= set(rules)
    docs = (MONITORING.parents[1] / "docs" / "operations.md").read_text().lower()
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        assert anchor == name.lower() and f"### {name.lower()}" in docs, name
