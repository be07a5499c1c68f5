"""Shared helpers of the fault tests: the operator and webhook as the other layers run them, AdmissionReviews
for a Seal user, metric reads, and status snapshots without timestamps."""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
for layer in ("operator", "webhook"):
    if str(REPO / "tests" / layer) not in sys.path:
        sys.path.insert(0, str(REPO / "tests" / layer))

from operator_testing import (  # noqa: E402
    SUI,
    Chain,
    OperatorProcess,
    apply,
    get_json,
    new_key,
    operator_command,
    running_chain,
    sealtoken_resource,
    stakednode_resource,
    wait_for,
)
from webhook_testing import call  # noqa: E402

__all__ = [
    "OUTAGE_MAX_STALENESS_S",
    "REPO",
    "SUI",
    "Chain",
    "OperatorProcess",
    "apply",
    "first_stale_denial",
    "get_json",
    "metric",
    "new_key",
    "operator_command",
    "operator_cursor",
    "phase",
    "running_chain",
    "seal_write",
    "sealtoken_resource",
    "stakednode_resource",
    "statuses",
    "validate",
    "wait_for",
    "webhook_metrics",
]

OUTAGE_MAX_STALENESS_S = 4.0
"""The webhooks' maximum chain staleness in the outage tests: past it, Seal users' writes are refused."""

_VOLATILE = frozenset({"lastVerified", "lastTransitionTime", "chainCursor", "observedGeneration"})


def seal_write(address: str, namespace: str = "default") -> dict[str, Any]:
    """A Seal user's ConfigMap create, as the API server sends it to /validate."""
    request = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "requestKind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "name": "cm",
        "namespace": namespace,
        "operation": "CREATE",
        "userInfo": {"username": f"sui:{address}", "groups": ["k3s-daas:stakers", "system:authenticated"]},
        "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}},
        "oldObject": None,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def validate(port: int, ca: Path, review: dict[str, Any]) -> dict[str, Any]:
    status, _, body = call(port, ca, "POST", "/validate", review)
    assert status == 200, (status, body)
    return dict(body["response"])


def first_stale_denial(port: int, ca: Path, address: str, unchanged: Callable[[], None], what: str) -> str:
    """Try a Seal user's write until refused as stale (the message, which says the chain is unreachable);
    ``unchanged`` asserts, before each try, that the outage has changed nothing it must not."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        unchanged()
        answer = validate(port, ca, seal_write(address))
        if not answer["allowed"]:
            message = str(answer["status"]["message"])
            assert "the chain is unreachable" in message, message
            return message
        time.sleep(0.25)
    raise AssertionError(f"writes still allowed {OUTAGE_MAX_STALENESS_S} s {what}")


def metric(text: str, name: str) -> float | None:
    """The value of an unlabelled sample ``name`` in a Prometheus exposition."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return None if found is None else float(found.group(1))


def webhook_metrics(port: int, ca: Path) -> str:
    status, _, body = call(port, ca, "GET", "/metrics")
    assert status == 200
    return body.decode() if isinstance(body, bytes) else str(body)


def phase(kubectl: Any, plural: str, name: str) -> str | None:
    found = get_json(kubectl, plural, name)
    return None if found is None else (found.get("status") or {}).get("phase")


def operator_cursor(kubectl: Any, namespace: str) -> str:
    """The event cursor the operator saved in ``namespace``."""
    found = get_json(kubectl, "configmap", "k3s-daas-operator-cursor", "-n", namespace)
    assert found is not None
    return str(found["data"]["cursor"])


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def statuses(kubectl: Any, plural: str, names: list[str]) -> dict[str, Any]:
    """``status`` of each named object without its timestamps (what an outage must not change)."""
    found = json.loads(kubectl("get", plural, "-o", "json").stdout)["items"]
    return {i["metadata"]["name"]: _strip(i.get("status") or {}) for i in found if i["metadata"]["name"] in names}
