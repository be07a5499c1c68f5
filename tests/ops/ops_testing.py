"""Helpers for the operations tests: manifests/ paths, promtool, PromQL metric names and the metric
names the components really expose."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from prometheus_client import CollectorRegistry

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
BASE = MANIFESTS / "base"
OVERLAYS = {name: MANIFESTS / "overlays" / name for name in ("in-cluster", "k3s-host")}
COMPONENTS = {name: MANIFESTS / "components" / name for name in ("onchain-requests",)}
MONITORING = MANIFESTS / "monitoring"
DASHBOARD = MONITORING / "dashboard.json"
ALERTS = MONITORING / "alerts.yaml"
ALERT_TESTS = MONITORING / "alerts.test.yaml"

# kube-apiserver v1.35 metrics that the dashboard and the alert rules use, as exposed on its /metrics
# (tests/ops/test_kustomize_apply.py checks them on the real API server). Sources, k8s.io/apiserver
# v0.35.4: pkg/endpoints/filters/metrics.go (authentication_attempts, a counter registered without a
# _total suffix) and pkg/authentication/token/cache/stats.go (authentication_token_cache_fetch_total,
# the token cache in front of the token webhook: k8s.io/kubernetes v1.35.4
# pkg/kubeapiserver/authenticator/config.go).
APISERVER_METRICS = frozenset({"authentication_attempts", "authentication_token_cache_fetch_total"})

# What each metric type exposes, by prometheus_client's naming (a Counter's family name has no _total).
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "unknown": ("",),
}
# Grafana's variables that may appear inside PromQL, with a value that makes the expression plain PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*")


def require_tool(name: str, install: str) -> Path:
    """The tool on PATH; missing, a skip outside CI and a failure in CI, as tests/conftest.py does for
    the control plane's prerequisites."""
    found = shutil.which(name)
    if found is None:
        prerequisite_missing(f"{name} not found on PATH: {install}")
    return Path(found)


def prerequisite_missing(message: str) -> NoReturn:
    """Fail in CI, where every test must run; elsewhere skip with the one line saying what to install
    (a developer without Go or promtool can still run every other test)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"prerequisite missing in CI: {message}", pytrace=False)
    pytest.skip(f"prerequisite missing: {message}")


def promtool() -> Path:
    return require_tool("promtool", "install Debian's prometheus package (./dev does)")


def run(argv: list[str], *, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, input=input, capture_output=True, text=True, timeout=120, check=False)


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, aggregations,
    keywords, label names (in matchers or by/without/on/ignoring/group_* lists) or durations."""
    text = _STRING.sub('""', expression)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        if text[match.end() :].lstrip().startswith("(") or match.group() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry can expose, from its families' types: a labelled metric with no
    child yet has no samples, but its names are fixed by its type."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SAMPLE_SUFFIXES[family.type])
    return names


def component_metric_names() -> set[str]:
    """What the webhook and the operator register, built as they build them: the webhook's registry
    with the on-chain request executor's metrics on it, as `webhook serve --onchain-requests` has."""
    from k3s_daas.settings import ChainSettings, RequestSettings
    from k3s_daas_operator.metrics import OperatorMetrics
    from k3s_daas_webhook.metrics import WebhookMetrics
    from k3s_daas_webhook.onchain import OnchainRequests

    webhook = WebhookMetrics()
    OnchainRequests(RequestSettings(enabled=True), ChainSettings(), "").register_metrics(webhook.registry)
    return exposed_names(webhook.registry) | exposed_names(OperatorMetrics().registry)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Panels, including those nested in collapsed rows."""
    panels: list[dict[str, Any]] = []
    for panel in board["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_expressions(board: dict[str, Any]) -> dict[str, str]:
    """Every PromQL target, keyed '<panel title> / <refId>'."""
    return {
        f"{panel['title']} / {target['refId']}": target["expr"]
        for panel in dashboard_panels(board)
        for target in panel.get("targets", [])
    }


def as_promql(expression: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def recording_rules_file(expressions: Iterable[tuple[str, str]]) -> str:
    """A Prometheus rule file with one recording rule per expression, so that promtool parses them."""
    rules = [
        {"record": f"k3s_daas_check:{index}", "expr": as_promql(expr)} for index, (_, expr) in enumerate(expressions)
    ]
    return yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]})


def build(kubectl: Path, directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a directory: its objects."""
    result = run([str(kubectl), "kustomize", str(directory)])
    assert result.returncode == 0, f"kubectl kustomize {directory.relative_to(REPO)} failed: {result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def with_components(directory: Path, overlay: Path, components: Iterable[Path]) -> Path:
    """A kustomization in ``directory`` that includes ``overlay`` and ``components``, as a user's own
    overlay does (kustomize takes relative paths only)."""
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(overlay, directory)],
        "components": [os.path.relpath(component, directory) for component in components],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(document))
    return directory


def by_kind_and_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["kind"], item["metadata"]["name"]): item for item in objects}
