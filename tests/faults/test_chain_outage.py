"""Chain unreachable (issue 8, point 1), on the real control plane with localnet behind a breakable proxy.

For each way the chain fails (connections refused, garbage answers, answers slower than the client's
timeout): the statuses the operator wrote stay exactly as they were throughout (no flip to NotFound),
the webhook's staleness gauge rises, and once past the maximum staleness a Seal user's write is denied
with a message saying the chain is unreachable and since when. While the chain is down a token is
issued and another revoked on chain; when it is back the operator converges: the new token's SealToken
appears Active, the revoked one turns Revoked, writes are allowed again (no event skipped: the cursor
held still).
"""

from __future__ import annotations

import time
import urllib.request

import pytest
from chain_proxy import ChainProxy
from faults_testing import (
    OUTAGE_MAX_STALENESS_S,
    SUI,
    Chain,
    apply,
    first_stale_denial,
    metric,
    new_key,
    operator_cursor,
    phase,
    seal_write,
    sealtoken_resource,
    stakednode_resource,
    statuses,
    validate,
    wait_for,
    webhook_metrics,
)

pytestmark = pytest.mark.cluster

USER, NODE = 0, 1


def test_chain_outage_keeps_state_denies_stale_writes_and_converges(
    kubectl, chain: Chain, proxy: ChainProxy, namespace: str, start_operator_behind_proxy, start_webhook
) -> None:
    alice, bob, owner = new_key(), new_key(), new_key()
    alice_record = chain.stake(alice, USER, SUI)
    alice_token = chain.issue(alice, alice_record, ["configmaps:create"])
    node_record = chain.stake(owner, NODE, 2 * SUI, node_name=f"outage-node-{namespace[-6:]}")
    tokens = [f"outage-alice-{namespace[-6:]}"]
    apply(kubectl, sealtoken_resource(tokens[0], alice.address, alice_token))
    node = f"outage-sn-{namespace[-6:]}"
    apply(kubectl, stakednode_resource(node, f"outage-node-{namespace[-6:]}", owner.address, node_record))
    operator = start_operator_behind_proxy("--create-from-events")
    wait_for("alice Active", lambda: phase(kubectl, "sealtokens", tokens[0]) == "Active", timeout=60)
    wait_for("node Active", lambda: phase(kubectl, "stakednodes", node) == "Active", timeout=60)
    webhook = start_webhook(max_chain_staleness_s=OUTAGE_MAX_STALENESS_S)
    wait_for("a fresh heartbeat", lambda: validate(webhook.port, webhook.ca, seal_write(alice.address))["allowed"])
    before = {**statuses(kubectl, "sealtokens", tokens), **statuses(kubectl, "stakednodes", [node])}
    revoked_during = False
    writer = alice  # a Seal user whose writes are allowed while the chain is fresh
    issued: list[str] = []

    for mode in ("down", "garbage", "slow"):
        proxy.set_mode(mode)
        cursor = operator_cursor(kubectl, namespace)
        if mode == "down":
            # Chain changes while the operator cannot see them: applied once it can.
            chain.revoke(alice, alice_token)
            revoked_during = True
            bob_record = chain.stake(bob, USER, SUI)
            issued.append(chain.issue(bob, bob_record, ["configmaps:create"]))
        first = metric(webhook_metrics(webhook.port, webhook.ca), "k3s_daas_webhook_chain_staleness_seconds")

        def status_kept() -> None:
            now = {**statuses(kubectl, "sealtokens", tokens), **statuses(kubectl, "stakednodes", [node])}
            assert now == before, f"status changed during a chain outage ({mode})"  # noqa: B023

        message = first_stale_denial(webhook.port, webhook.ca, writer.address, status_kept, f"into a {mode} chain")
        assert "last confirmed on chain at 20" in message, message
        later = metric(webhook_metrics(webhook.port, webhook.ca), "k3s_daas_webhook_chain_staleness_seconds")
        assert first is not None and later is not None and later > first and later > OUTAGE_MAX_STALENESS_S
        assert operator_cursor(kubectl, namespace) == cursor, f"the cursor moved while the chain was {mode}"
        # Hold the outage a few verify rounds more: still nothing flips.
        time.sleep(2)
        assert {**statuses(kubectl, "sealtokens", tokens), **statuses(kubectl, "stakednodes", [node])} == before
        operator.assert_running()
        proxy.set_mode("pass")
        if mode == "down":
            # The revocation made during the outage lands now; only then are writes allowed again, and denied
            # for what the chain says (revoked), not for staleness.
            wait_for("alice Revoked", lambda: phase(kubectl, "sealtokens", tokens[0]) == "Revoked", timeout=60)
            before = {**statuses(kubectl, "sealtokens", tokens), **statuses(kubectl, "stakednodes", [node])}
            wait_for(
                "a stake denial, no longer a staleness one",
                lambda: (
                    "unreachable"
                    not in validate(webhook.port, webhook.ca, seal_write(alice.address))["status"]["message"]
                ),
                timeout=30,
            )
            # Bob's token, issued during the outage: its SealToken was created from the event and verified.
            created = f"seal-{issued[0].removeprefix('0x')[:40]}"
            wait_for("bob's token Active", lambda: phase(kubectl, "sealtokens", created) == "Active", timeout=60)  # noqa: B023
            tokens.append(created)
            before = {**statuses(kubectl, "sealtokens", tokens), **statuses(kubectl, "stakednodes", [node])}
            writer = bob
            wait_for("bob may write", lambda: validate(webhook.port, webhook.ca, seal_write(bob.address))["allowed"])
        else:
            wait_for(
                "fresh again",
                lambda: validate(webhook.port, webhook.ca, seal_write(writer.address))["allowed"],  # noqa: B023
                timeout=60,
            )

    assert revoked_during
    assert validate(webhook.port, webhook.ca, seal_write(bob.address))["allowed"]
    text = operator.metrics()
    assert "k3s_daas_operator_chain_confirmed_timestamp_seconds" in text
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/healthz", timeout=5) as response:
        assert response.status == 200
