"""StakedNodes on the real control plane with localnet: bootstrap tokens, slash, drain, restart."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from operator_testing import SUI, Chain, OperatorProcess, get_json, new_key, wait_for

pytestmark = pytest.mark.cluster


def stakednode_manifest(name: str, node: str, owner: str, record: str) -> str:
    return f"""
apiVersion: k3s-daas.io/v1alpha1
kind: StakedNode
metadata: {{name: {name}}}
spec: {{nodeName: {node}, owner: "{owner}", stakeRecord: "{record}"}}
"""


def status_of(kubectl, name: str) -> dict[str, Any]:
    return dict(((get_json(kubectl, "stakednode", name) or {}).get("status")) or {})


def phase_is(kubectl, name: str, phase: str) -> dict[str, Any] | None:
    status = status_of(kubectl, name)
    return status if status.get("phase") == phase else None


def token_secrets(kubectl, staked_node: str) -> list[dict[str, Any]]:
    found = get_json(kubectl, "secrets", "-n", "kube-system", "-l", f"k3s-daas.io/staked-node={staked_node}")
    return list((found or {}).get("items") or [])


def staked_node(kubectl, chain: Chain) -> tuple[str, str, str]:
    """A node stake on chain and its StakedNode; returns (StakedNode name, node name, record)."""
    owner = new_key()
    node = f"worker-{secrets.token_hex(3)}"
    record = chain.stake(owner, 1, 2 * SUI, node)
    kubectl("apply", "-f", "-", input=stakednode_manifest(node, node, owner.address, record))
    return node, node, record


def cleanup(kubectl, name: str, node: str, namespace: str | None = None) -> None:
    kubectl("delete", "stakednode", name, "--ignore-not-found", "--wait=false")
    kubectl("delete", "node", node, "--ignore-not-found", "--wait=false")
    if namespace:
        kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def test_active_node_gets_a_bootstrap_token_that_a_slash_removes(kubectl, chain: Chain, start_operator) -> None:
    start_operator("--bootstrap-token-ttl=600")
    name, node, record = staked_node(kubectl, chain)
    try:
        status = wait_for(
            "Active",
            lambda: phase_is(kubectl, name, "Active") if status_of(kubectl, name).get("bootstrapTokenSecret") else None,
        )
        assert status["stakeSui"] == "2" and status["joined"] is False
        secret = get_json(kubectl, "secret", "-n", "kube-system", status["bootstrapTokenSecret"])
        assert secret is not None and secret["type"] == "bootstrap.kubernetes.io/token"
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert secret["metadata"]["name"] == f"bootstrap-token-{data['token-id']}"
        assert len(data["token-secret"]) == 16 and data["usage-bootstrap-authentication"] == "true"
        assert data["auth-extra-groups"] == "system:bootstrappers:k3s:default-node-token"
        assert secret["metadata"]["ownerReferences"][0]["kind"] == "StakedNode"
        assert len(token_secrets(kubectl, name)) == 1

        chain.slash(record, SUI // 10, "double signing")
        status = wait_for("Slashed", lambda: phase_is(kubectl, name, "Slashed"))
        assert "double signing" in status["message"] and "bootstrapTokenSecret" not in status
        wait_for("token gone", lambda: not token_secrets(kubectl, name))
    finally:
        cleanup(kubectl, name, node)


def node_manifest(node: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": {"test": "drain"}}})


def pod_manifest(name: str, namespace: str, node: str, annotations: dict[str, str] | None = None) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app": "web"},
                "annotations": annotations or {},
            },
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.invalid/none:1"}]},
        }
    )


def joined_node_with_pods(kubectl, chain: Chain, start: Any, namespace: str) -> tuple[str, str, str]:
    name, node, record = staked_node(kubectl, chain)
    wait_for("Active", lambda: phase_is(kubectl, name, "Active"))
    kubectl("apply", "-f", "-", input=node_manifest(node))
    wait_for(
        "joined, token dropped",
        lambda: status_of(kubectl, name).get("joined") is True and not token_secrets(kubectl, name),
    )
    kubectl("create", "namespace", namespace)
    for index in range(3):
        pod = f"web-{index}"
        kubectl("apply", "-f", "-", input=pod_manifest(pod, namespace, node))
        ready = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
        kubectl("patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(ready))
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}},
    }
    kubectl("apply", "-f", "-", input=json.dumps(budget))
    wait_for(
        "budget computed",
        lambda: (
            ((get_json(kubectl, "pdb", "web", "-n", namespace) or {}).get("status") or {}).get("currentHealthy") == 3
        ),
    )
    return name, node, record


def set_min_available(kubectl, namespace: str, value: int) -> None:
    kubectl("patch", "pdb", "web", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"minAvailable": value}}))


def live_pods(kubectl, namespace: str) -> list[str]:
    pods = (get_json(kubectl, "pods", "-n", namespace) or {}).get("items") or []
    return [p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")]


def test_slash_cordons_drains_within_the_budget_and_removes_the_node(kubectl, chain: Chain, start_operator) -> None:
    start_operator("--drain-deadline=600")
    namespace = f"drain-{secrets.token_hex(3)}"
    name, node, record = joined_node_with_pods(kubectl, chain, start_operator, namespace)
    try:
        chain.slash(record, SUI, "downtime")
        status = wait_for(
            "Draining, blocked",
            lambda: (
                (s := phase_is(kubectl, name, "Draining"))
                and s.get("drain", {}).get("blockedByDisruptionBudget") == 3
                and s
            ),
        )
        assert (get_json(kubectl, "node", node) or {})["spec"].get("unschedulable") is True
        assert len(live_pods(kubectl, namespace)) == 3
        events = kubectl("get", "events", "-n", "default", f"--field-selector=involvedObject.name={name}", "-o", "json")
        assert "EvictionBlocked" in events.stdout

        set_min_available(kubectl, namespace, 2)  # the budget allows one eviction at a time
        wait_for("one evicted", lambda: len(live_pods(kubectl, namespace)) == 2)
        status = status_of(kubectl, name)
        assert status["phase"] == "Draining" and get_json(kubectl, "node", node) is not None

        set_min_available(kubectl, namespace, 0)
        status = wait_for("Slashed, node removed", lambda: phase_is(kubectl, name, "Slashed"), timeout=60)
        assert get_json(kubectl, "node", node) is None
        assert status["drain"]["evicted"] == 3 and status["drain"]["podsRemaining"] == 0
        assert "downtime" in status["message"] and not token_secrets(kubectl, name)
    finally:
        cleanup(kubectl, name, node, namespace)


def test_operator_killed_mid_drain_finishes_it_after_a_restart(kubectl, chain: Chain, start_operator) -> None:
    first: OperatorProcess = start_operator("--drain-deadline=600")
    namespace = f"drain-{secrets.token_hex(3)}"
    name, node, record = joined_node_with_pods(kubectl, chain, start_operator, namespace)
    try:
        chain.slash(record, SUI, "equivocation")
        wait_for("Draining", lambda: phase_is(kubectl, name, "Draining"))
        first.kill()
        set_min_available(kubectl, namespace, 0)
        second: OperatorProcess = start_operator("--drain-deadline=600")
        status = wait_for("Slashed, node removed", lambda: phase_is(kubectl, name, "Slashed"), timeout=60)
        assert get_json(kubectl, "node", node) is None and status["drain"]["evicted"] == 3
        assert not token_secrets(kubectl, name)
        assert "following chain events from cursor" in second.log()
        second.assert_running()
    finally:
        cleanup(kubectl, name, node, namespace)


def test_drain_deadline_taints_and_removes_the_node(kubectl, chain: Chain, start_operator) -> None:
    start_operator("--drain-deadline=3")
    namespace = f"drain-{secrets.token_hex(3)}"
    name, node, record = joined_node_with_pods(kubectl, chain, start_operator, namespace)
    try:
        chain.slash(record, SUI // 2, "late")
        status = wait_for("Slashed after the deadline", lambda: phase_is(kubectl, name, "Slashed"), timeout=60)
        assert status["drain"].get("taintedAt") and status["drain"]["podsRemaining"] == 3
        assert get_json(kubectl, "node", node) is None
    finally:
        cleanup(kubectl, name, node, namespace)


def test_a_strangers_stake_for_the_same_name_does_not_keep_a_slashed_node(
    kubectl, chain: Chain, start_operator
) -> None:
    """Only the owner staking again keeps a Node; anyone else's stake for the name does not."""
    start_operator("--drain-deadline=600")
    name, node, record = staked_node(kubectl, chain)
    stranger = new_key()
    stranger_record = chain.stake(stranger, 1, 2 * SUI, node)
    stranger_name = f"{node}-stranger"
    kubectl("apply", "-f", "-", input=stakednode_manifest(stranger_name, node, stranger.address, stranger_record))
    try:
        wait_for(
            "both Active", lambda: phase_is(kubectl, name, "Active") and phase_is(kubectl, stranger_name, "Active")
        )
        kubectl("apply", "-f", "-", input=node_manifest(node))  # the owner's machine has joined
        chain.slash(record, SUI, "double signing")
        wait_for("Slashed, node removed", lambda: phase_is(kubectl, name, "Slashed"), timeout=60)
        wait_for("Node deleted", lambda: get_json(kubectl, "node", node) is None or None, timeout=30)
    finally:
        cleanup(kubectl, stranger_name, node)
        cleanup(kubectl, name, node)
