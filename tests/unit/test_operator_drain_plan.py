"""Drain planning: which pods to evict now, given the pods and their PodDisruptionBudgets."""

from __future__ import annotations

from typing import Any

from k3s_daas_operator.drain_plan import PodKey, plan_drain, selects


def pod(name: str, labels: dict[str, str] | None = None, ns: str = "app", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}}
    meta.update(extra.pop("meta", {}))
    return {"metadata": meta, "status": extra.get("status", {"phase": "Running"})}


def budget(allowed: int, selector: dict[str, Any] | None, ns: str = "app") -> dict[str, Any]:
    return {
        "metadata": {"name": "b", "namespace": ns},
        "spec": {"selector": selector},
        "status": {"disruptionsAllowed": allowed},
    }


def names(keys: tuple[PodKey, ...]) -> list[str]:
    return [k.name for k in keys]


def test_mirror_and_daemonset_pods_are_skipped_and_terminating_ones_are_gone() -> None:
    pods = [
        pod("mirror", meta={"annotations": {"kubernetes.io/config.mirror": "x"}}),
        pod("ds", meta={"ownerReferences": [{"kind": "DaemonSet", "controller": True, "name": "d"}]}),
        pod("leaving", meta={"deletionTimestamp": "2026-01-01T00:00:00Z"}),
        pod("plain"),
    ]
    plan = plan_drain(pods, [])
    assert names(plan.skipped) == ["ds", "mirror"] and names(plan.evict) == ["plain"] and plan.remaining == 1


def test_budget_allows_as_many_evictions_as_it_has_disruptions() -> None:
    pods = [pod(f"web-{i}", {"app": "web"}) for i in range(3)] + [pod("other", {"app": "db"})]
    plan = plan_drain(pods, [budget(1, {"matchLabels": {"app": "web"}})])
    assert names(plan.evict) == ["other", "web-0"] and names(plan.blocked) == ["web-1", "web-2"]
    assert plan.remaining == 4


def test_budgets_apply_only_in_their_namespace_and_finished_pods_are_free() -> None:
    pods = [pod("a", {"app": "web"}, ns="x"), pod("done", {"app": "web"}, status={"phase": "Succeeded"})]
    plan = plan_drain(pods, [budget(0, {}, ns="app")])
    assert names(plan.evict) == ["done", "a"]


def test_label_selector_semantics() -> None:
    labels = {"app": "web", "tier": "front"}
    assert selects({}, labels) and not selects(None, labels)
    assert selects({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, labels)
    assert selects({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, labels)
    assert not selects({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, labels)
    assert not selects({"matchLabels": {"app": "db"}}, labels)
