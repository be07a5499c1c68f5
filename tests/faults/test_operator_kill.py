"""The operator SIGKILLed at random points, 20 times in a row (issue 8, point 3).

A workload of token minting (RBAC bindings and shared roles), a node's bootstrap token, a revocation and
a slash that drains and removes a Node runs once with an operator left alone (the clean run) and once
with the operator killed at seeded random moments while it works, each kill followed by a restart. The
final cluster state of the two runs, with run-specific ids replaced by the same placeholders and
timestamps dropped, must be identical: SealToken and StakedNode statuses, ClusterRoleBindings and the
ClusterRoles they bind, bootstrap token Secrets (exactly those the statuses name: none leaked, none
twice), Nodes.

``K3S_DAAS_FAULT_ITERATIONS`` sets the number of kills (default 20; e.g. 200 for a long soak of it),
``K3S_DAAS_FAULT_SEED`` the seed (printed on failure).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from faults_testing import (
    SUI,
    Chain,
    OperatorProcess,
    apply,
    get_json,
    new_key,
    sealtoken_resource,
    stakednode_resource,
    wait_for,
)

pytestmark = pytest.mark.cluster

USER, NODE = 0, 1
ITERATIONS = int(os.environ.get("K3S_DAAS_FAULT_ITERATIONS", "20"))
SEED = int(os.environ.get("K3S_DAAS_FAULT_SEED", "8"))
PERMISSIONS = (["configmaps:create", "configmaps:get"], ["pods:get"], ["configmaps:create", "configmaps:get"])
_DROP = frozenset(
    {"lastVerified", "lastTransitionTime", "chainCursor", "observedGeneration", "startedAt", "taintedAt", "evicted"}
)


@dataclass
class Run:
    """One run of the workload: its names, and every run-specific string with its placeholder."""

    label: str
    namespace: str
    legend: dict[str, str] = field(default_factory=dict)
    sealtokens: list[str] = field(default_factory=list)
    stakednodes: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)

    def name(self, kind: str, index: int) -> str:
        value = f"{kind}-{index}-{self.label}"
        self.legend[value] = f"<{kind}-{index}>"
        return value

    def remember(self, value: str, placeholder: str) -> str:
        self.legend[value] = placeholder
        return value


def workload(kubectl: Any, chain: Chain, run: Run) -> list[Callable[[], None]]:
    """The steps, in order: each is one burst of work for the operator."""
    users = [new_key() for _ in PERMISSIONS]
    owner = new_key()
    tokens: list[str] = []
    records: dict[str, str] = {}

    def mint() -> None:
        for index, (user, permissions) in enumerate(zip(users, PERMISSIONS, strict=True)):
            run.remember(user.address, f"<user-{index}>")
            record = run.remember(chain.stake(user, USER, SUI), f"<record-{index}>")
            token = run.remember(chain.issue(user, record, permissions), f"<token-{index}>")
            tokens.append(token)
            name = run.name("st", index)
            run.sealtokens.append(name)
            apply(kubectl, sealtoken_resource(name, user.address, token))

    def stake_nodes() -> None:
        run.remember(owner.address, "<owner>")
        for index in range(2):
            node = run.name("node", index)
            run.nodes.append(node)
            if index == 1:  # joined: the Node exists, with a pod to drain
                apply(kubectl, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
                apply(
                    kubectl,
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": run.name("pod", index), "namespace": run.namespace},
                        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.invalid/none:1"}]},
                    },
                )
            record = run.remember(chain.stake(owner, NODE, 2 * SUI, node_name=node), f"<node-record-{index}>")
            records[node] = record
            name = run.name("sn", index)
            run.stakednodes.append(name)
            apply(kubectl, stakednode_resource(name, node, owner.address, record))

    def revoke() -> None:
        chain.revoke(users[1], tokens[1])

    def slash() -> None:
        chain.slash(records[run.nodes[1]], SUI // 10, reason="fault test")

    return [mint, stake_nodes, revoke, slash]


def converged(kubectl: Any, run: Run) -> bool:
    def phase(plural: str, name: str) -> str | None:
        found = get_json(kubectl, plural, name)
        return None if found is None else (found.get("status") or {}).get("phase")

    phases = [phase("sealtokens", n) for n in run.sealtokens] + [phase("stakednodes", n) for n in run.stakednodes]
    node_gone = get_json(kubectl, "node", run.nodes[1]) is None
    return phases == ["Active", "Revoked", "Active", "Active", "Slashed"] and node_gone


def _items(kubectl: Any, *args: str) -> list[dict[str, Any]]:
    return list(json.loads(kubectl("get", *args, "-o", "json").stdout)["items"])


def _clean(value: Any, legend: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {_clean(k, legend): _clean(v, legend) for k, v in sorted(value.items()) if k not in _DROP}
    if isinstance(value, list):
        return [_clean(v, legend) for v in value]
    if isinstance(value, str):
        for original, placeholder in legend.items():
            value = value.replace(original, placeholder)
        return value
    return value


def snapshot(kubectl: Any, run: Run) -> dict[str, Any]:
    """The run's cluster state, normalized: what must be identical between a clean and a killed run."""
    state: dict[str, Any] = {}
    secrets_named: dict[str, str] = {}
    for item in _items(kubectl, "stakednodes"):
        if item["metadata"]["name"] in run.stakednodes:
            status = dict(item.get("status") or {})
            secret = status.get("bootstrapTokenSecret")
            if isinstance(secret, str):
                secrets_named[secret] = item["metadata"]["name"]
                status["bootstrapTokenSecret"] = "<secret>"
            status.pop("bootstrapTokenExpiresAt", None)
            state[f"stakednode/{item['metadata']['name']}"] = status
    for item in _items(kubectl, "sealtokens"):
        if item["metadata"]["name"] in run.sealtokens:
            status = dict(item.get("status") or {})
            status.pop("expiresAt", None)
            state[f"sealtoken/{item['metadata']['name']}"] = status
    roles = {r["metadata"]["name"]: r for r in _items(kubectl, "clusterroles")}
    for binding in _items(kubectl, "clusterrolebindings"):
        holder = binding["metadata"].get("labels", {}).get("k3s-daas.io/sealtoken")
        if holder in run.sealtokens:
            role = roles.get(binding["roleRef"]["name"])
            state[f"binding/{holder}"] = {
                "subjects": binding.get("subjects"),
                "role_rules": None if role is None else role.get("rules"),
                "owners": [o["name"] for o in binding["metadata"].get("ownerReferences", [])],
            }
    tokens = _items(kubectl, "secrets", "-n", "kube-system", "-l", "k3s-daas.io/staked-node")
    mine = [s for s in tokens if s["metadata"]["labels"]["k3s-daas.io/staked-node"] in run.stakednodes]
    # Every bootstrap Secret of this run is the one its StakedNode names: none leaked, none twice.
    assert sorted(s["metadata"]["name"] for s in mine) == sorted(secrets_named), (mine, secrets_named)
    state["bootstrap-secrets"] = sorted(s["metadata"]["labels"]["k3s-daas.io/staked-node"] for s in mine)
    for node in run.nodes:
        found = get_json(kubectl, "node", node)
        state[f"node/{node}"] = None if found is None else {"spec": found.get("spec")}
    return dict(_clean(state, run.legend))


def cleanup(kubectl: Any, run: Run) -> None:
    for plural, names in (("sealtokens", run.sealtokens), ("stakednodes", run.stakednodes), ("nodes", run.nodes)):
        if names:
            kubectl("delete", plural, *names, "--ignore-not-found", "--wait=false")


def _run(
    kubectl: Any, chain: Chain, namespace: str, label: str, start: Callable[[], OperatorProcess], kills: bool
) -> dict[str, Any]:
    run = Run(label, namespace)
    steps = workload(kubectl, chain, run)
    rng = random.Random(SEED)  # reproducible kill points
    operator = start()
    if kills:
        # Steps at every other iteration, so kills land while each one's work (minting, RBAC, the drain)
        # is under way; restart at once, as a Deployment would.
        for iteration in range(ITERATIONS):
            if iteration % 2 == 0 and steps:
                steps.pop(0)()
            time.sleep(rng.uniform(0.5, 3.5))
            operator.kill()
            operator.start()
    for step in steps:
        step()
    try:
        wait_for("the workload to converge", lambda: converged(kubectl, run), timeout=120, interval=0.5)
        operator.assert_running()
        # Settled: a few verify rounds later the state is still the same (no flapping, nothing pending).
        first = snapshot(kubectl, run)
        time.sleep(3)
        assert snapshot(kubectl, run) == first
        return first
    finally:
        operator.stop()
        cleanup(kubectl, run)


def test_operator_killed_twenty_times_ends_as_a_clean_run(kubectl, chain: Chain, namespace: str, start_operator):
    flags = ("--verify-interval=2", "--drain-deadline=30")

    def start() -> OperatorProcess:
        return start_operator(*flags)

    clean = _run(kubectl, chain, namespace, "c" + secrets.token_hex(2), start, kills=False)
    killed = _run(kubectl, chain, namespace, "k" + secrets.token_hex(2), start, kills=True)
    assert killed == clean, f"seed {SEED}: the killed run ended differently from the clean run"
