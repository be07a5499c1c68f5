"""Two operators and two webhooks at once (issue 8, point 5; docs/replicas.md).

Operators are active-standby (leader election on the Lease k3s-daas-operator): exactly one leads, work is
done once (one bootstrap Secret per node, one Event per transition, statuses written once and then left
alone), and when the leader is killed the standby takes over and carries on. Webhooks are active-active:
each watches the cluster on its own and both give the same answers.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from faults_testing import (
    SUI,
    Chain,
    apply,
    get_json,
    metric,
    new_key,
    seal_write,
    sealtoken_resource,
    stakednode_resource,
    validate,
    wait_for,
)

pytestmark = pytest.mark.cluster

USER, NODE = 0, 1


def _phase(kubectl: Any, plural: str, name: str) -> str | None:
    found = get_json(kubectl, plural, name)
    return None if found is None else (found.get("status") or {}).get("phase")


def _leading(operators: list[Any]) -> list[Any]:
    def leads(operator: Any) -> bool:
        operator.assert_running()  # one that died at start must fail the test with its log, not time it out
        try:
            return metric(operator.metrics(), "k3s_daas_operator_leader") == 1.0
        except OSError:  # not serving /metrics yet (starting) or any more (killed)
            return False

    return [o for o in operators if leads(o)]


def test_two_operators_one_leads_and_two_webhooks_agree(
    kubectl, chain: Chain, namespace: str, start_operator, start_webhook
) -> None:
    operators = [start_operator("--leader-election", "--verify-interval=1") for _ in range(2)]
    leader = wait_for("one leader", lambda: (found := _leading(operators)) and len(found) == 1 and found[0], timeout=60)
    standby = next(o for o in operators if o is not leader)

    alice, owner = new_key(), new_key()
    suffix = namespace[-6:]
    record = chain.stake(alice, USER, SUI)
    token = chain.issue(alice, record, ["configmaps:create"])
    sealtoken = f"replicas-alice-{suffix}"
    apply(kubectl, sealtoken_resource(sealtoken, alice.address, token))
    node_name = f"replicas-node-{suffix}"
    node_record = chain.stake(owner, NODE, 2 * SUI, node_name=node_name)
    stakednode = f"replicas-sn-{suffix}"
    apply(kubectl, stakednode_resource(stakednode, node_name, owner.address, node_record))
    wait_for("SealToken Active", lambda: _phase(kubectl, "sealtokens", sealtoken) == "Active", timeout=60)
    wait_for("StakedNode Active", lambda: _phase(kubectl, "stakednodes", stakednode) == "Active", timeout=60)

    # Done once: one bootstrap Secret, one Event per transition, and no status writes once settled.
    versions = {
        p: get_json(kubectl, p, n)["metadata"]["resourceVersion"]
        for p, n in (("sealtokens", sealtoken), ("stakednodes", stakednode))
    }  # type: ignore[index]
    time.sleep(4)
    for plural, name in (("sealtokens", sealtoken), ("stakednodes", stakednode)):
        assert get_json(kubectl, plural, name)["metadata"]["resourceVersion"] == versions[plural], f"{plural} flapping"  # type: ignore[index]
    secrets = json.loads(
        kubectl(
            "get", "secrets", "-n", "kube-system", "-l", f"k3s-daas.io/staked-node={stakednode}", "-o", "json"
        ).stdout
    )["items"]
    assert len(secrets) == 1
    events = json.loads(kubectl("get", "events", "-n", "default", "-o", "json").stdout)["items"]
    activations = [e for e in events if e["involvedObject"].get("name") == sealtoken and e["reason"] == "Active"]
    assert len(activations) == 1 and activations[0].get("count", 1) == 1, activations
    assert _leading(operators) == [leader]
    assert "standing by" in standby.log()

    # Two webhooks, each on its own watch: the same answer from both.
    webhooks = [start_webhook() for _ in range(2)]
    for webhook in webhooks:
        wait_for("webhook allows alice", lambda w=webhook: validate(w.port, w.ca, seal_write(alice.address))["allowed"])

    # The leader dies: the standby takes over within the lease duration, and work goes on.
    leader.kill()
    wait_for("the standby leads", lambda: _leading([standby]) == [standby], timeout=40)
    chain.revoke(alice, token)
    wait_for(
        "revocation applied by the new leader",
        lambda: _phase(kubectl, "sealtokens", sealtoken) == "Revoked",
        timeout=60,
    )
    for webhook in webhooks:
        wait_for(
            "webhook denies alice", lambda w=webhook: not validate(w.port, w.ca, seal_write(alice.address))["allowed"]
        )
    secrets = json.loads(
        kubectl(
            "get", "secrets", "-n", "kube-system", "-l", f"k3s-daas.io/staked-node={stakednode}", "-o", "json"
        ).stdout
    )["items"]
    assert len(secrets) == 1, "the new leader minted a second bootstrap token"
    kubectl("delete", "sealtoken", sealtoken, "--wait=false")
    kubectl("delete", "stakednode", stakednode, "--wait=false")
