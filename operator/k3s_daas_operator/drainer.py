"""Cordon a Node, evict its pods through the Eviction API, taint it, delete it.

Each call does one round and returns; the reconciler calls again after a backoff while pods are
held back by a PodDisruptionBudget (429), so a drain survives an operator restart: its state is
the cluster (cordon flag, remaining pods) plus ``status.drain.startedAt``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

from k3s_daas_operator import names
from k3s_daas_operator.context import Context
from k3s_daas_operator.drain_plan import DrainPlan, PodKey, plan_drain
from k3s_daas_operator.kube import KubeError, NotFound, TooManyRequests, core_path
from k3s_daas_operator.recorder import InvolvedObject

log = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 1.0
BACKOFF_CAP_S: Final = 5.0
"""kubectl drain retries every 5 s; a budget relaxed by its owner is noticed as soon."""


@dataclass(frozen=True, slots=True)
class DrainRound:
    plan: DrainPlan
    evicted: int
    blocked: int
    """Refused now: planned as blocked, or answered 429."""

    @property
    def remaining(self) -> int:
        return self.plan.remaining - self.evicted


def backoff_s(rounds_blocked: int) -> float:
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, rounds_blocked - 1)) if rounds_blocked else BACKOFF_BASE_S


async def cordon(ctx: Context, node: str) -> None:
    if ctx.index.nodes.get(node):
        return
    await ctx.kube.merge_patch(core_path("nodes", node), {"spec": {"unschedulable": True}})
    ctx.index.nodes[node] = True


async def evict_round(ctx: Context, node: str, about: InvolvedObject) -> DrainRound:
    pods = [p async for p in ctx.kube.list(core_path("pods"), {"fieldSelector": f"spec.nodeName={node}"})]
    namespaces = sorted({p["metadata"]["namespace"] for p in pods})
    budgets: list[dict[str, Any]] = []
    for namespace in namespaces:
        path = f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"
        budgets.extend([b async for b in ctx.kube.list(path)])
    plan = plan_drain(pods, budgets)
    evicted = 0
    refused = len(plan.blocked)
    for pod in plan.evict:
        result = await _evict(ctx, pod)
        ctx.metrics.evictions.labels(result=result).inc()
        if result == "evicted":
            evicted += 1
            ctx.recorder.normal(about, "Evicted", f"evicted pod {pod} from node {node}")
        elif result == "gone":
            evicted += 1
        elif result == "blocked":
            refused += 1
    if plan.blocked:
        ctx.metrics.evictions.labels(result="blocked").inc(len(plan.blocked))
    if refused:
        ctx.recorder.warning(
            about, "EvictionBlocked", f"{refused} pod(s) on {node} held back by a PodDisruptionBudget; retrying"
        )
    return DrainRound(plan, evicted, refused)


async def _evict(ctx: Context, pod: PodKey) -> str:
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
    }
    try:
        await ctx.kube.create(core_path("pods", pod.name, pod.namespace, "eviction"), body)
    except TooManyRequests:
        return "blocked"
    except NotFound:
        return "gone"
    except KubeError as error:
        log.warning("eviction of %s failed: %s", pod, error)
        return "error"
    return "evicted"


async def taint(ctx: Context, node: str, reason: str) -> None:
    current = await ctx.kube.get(core_path("nodes", node))
    taints = [t for t in (current.get("spec") or {}).get("taints") or [] if t.get("key") != names.EVICTED_TAINT_KEY]
    taints.append({"key": names.EVICTED_TAINT_KEY, "value": reason[:63], "effect": "NoExecute"})
    patch = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}, "spec": {"taints": taints}}
    await ctx.kube.merge_patch(core_path("nodes", node), patch)


async def delete_node(ctx: Context, node: str) -> None:
    await ctx.kube.delete(core_path("nodes", node))
    ctx.index.nodes.pop(node, None)
