"""Which pods of a Node to evict now, as a pure function of the pods and PodDisruptionBudgets.

Like ``kubectl drain``: mirror pods (the kubelet's static pods) and DaemonSet pods are skipped
(evicting them is pointless: they come straight back), pods already terminating count as gone,
and a pod is evicted only while every budget selecting it still allows a disruption. The
Eviction API enforces the budgets anyway (429); planning with them avoids a storm of refusals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

MIRROR_ANNOTATION: Final = "kubernetes.io/config.mirror"
_TERMINAL_PHASES: Final = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True, slots=True, order=True)
class PodKey:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class DrainPlan:
    evict: tuple[PodKey, ...]
    blocked: tuple[PodKey, ...]
    """Held back by a budget that allows no more disruptions now."""
    skipped: tuple[PodKey, ...]
    """Mirror and DaemonSet pods: never evicted."""

    @property
    def remaining(self) -> int:
        """Pods that must leave before the Node is empty."""
        return len(self.evict) + len(self.blocked)


def key(pod: Mapping[str, Any]) -> PodKey:
    meta = pod.get("metadata") or {}
    return PodKey(str(meta.get("namespace", "")), str(meta.get("name", "")))


def is_mirror(pod: Mapping[str, Any]) -> bool:
    return MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def is_daemonset_pod(pod: Mapping[str, Any]) -> bool:
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("kind") == "DaemonSet" and o.get("controller") for o in owners)


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_finished(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in _TERMINAL_PHASES


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector match; in policy/v1 an empty selector selects every pod, a null one none."""
    if selector is None:
        return False
    for name, value in (selector.get("matchLabels") or {}).items():
        if labels.get(name) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        name, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = name in labels
        if operator == "In" and not (present and labels[name] in values):
            return False
        if operator == "NotIn" and present and labels[name] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def plan_drain(pods: Sequence[Mapping[str, Any]], budgets: Sequence[Mapping[str, Any]]) -> DrainPlan:
    allowance: dict[int, int] = {
        i: int((b.get("status") or {}).get("disruptionsAllowed") or 0) for i, b in enumerate(budgets)
    }
    evict: list[PodKey] = []
    blocked: list[PodKey] = []
    skipped: list[PodKey] = []
    for pod in sorted(pods, key=key):
        if is_mirror(pod) or is_daemonset_pod(pod):
            skipped.append(key(pod))
            continue
        if is_terminating(pod):
            continue
        if is_finished(pod):
            evict.append(key(pod))  # a finished pod is not counted by any budget
            continue
        matching = _budgets_of(pod, budgets)
        if any(allowance[i] <= 0 for i in matching):
            blocked.append(key(pod))
            continue
        for i in matching:
            allowance[i] -= 1
        evict.append(key(pod))
    return DrainPlan(tuple(evict), tuple(blocked), tuple(skipped))


def _budgets_of(pod: Mapping[str, Any], budgets: Sequence[Mapping[str, Any]]) -> list[int]:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    namespace = meta.get("namespace")
    return [
        i
        for i, budget in enumerate(budgets)
        if (budget.get("metadata") or {}).get("namespace") == namespace
        and selects((budget.get("spec") or {}).get("selector"), labels)
    ]
