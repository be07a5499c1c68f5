"""The chain serves its event stream but not the objects the events name (issue 8, point 1).

An event says a token was revoked, and the read of that token fails (503). The operator must neither
skip the event (its cursor stays before the page) nor claim the chain is confirmed (the heartbeat stops,
so the webhook's staleness rises and, past the maximum, Seal users' writes are refused as "the chain is
unreachable"); the token's status stays as it was (no flip to NotFound). Once object reads work again,
the page is applied: the token turns Revoked, the cursor moves, and the denial is for the revocation.
"""

from __future__ import annotations

import re

import pytest
from chain_proxy import ChainProxy
from faults_testing import (
    OUTAGE_MAX_STALENESS_S,
    SUI,
    Chain,
    apply,
    first_stale_denial,
    new_key,
    operator_cursor,
    phase,
    seal_write,
    sealtoken_resource,
    statuses,
    validate,
    wait_for,
    webhook_metrics,
)

pytestmark = pytest.mark.cluster

USER = 0


def _failed_token_reads(metrics: str) -> float:
    """Seal token reads the operator saw fail transiently (the proxy's 503s)."""
    pattern = r'^k3s_daas_chain_request_seconds_count\{operation="seal_tokens",outcome="transient"\} (\S+)$'
    found = re.search(pattern, metrics, re.MULTILINE)
    return 0.0 if found is None else float(found.group(1))


def test_events_without_objects_hold_the_cursor_and_stop_the_heartbeat(
    kubectl, chain: Chain, proxy: ChainProxy, namespace: str, start_operator_behind_proxy, start_webhook
) -> None:
    alice = new_key()
    token = chain.issue(alice, chain.stake(alice, USER, SUI), ["configmaps:create"])
    name = f"partial-alice-{namespace[-6:]}"
    apply(kubectl, sealtoken_resource(name, alice.address, token))
    operator = start_operator_behind_proxy()
    wait_for("alice Active", lambda: phase(kubectl, "sealtokens", name) == "Active", timeout=60)
    webhook = start_webhook(max_chain_staleness_s=OUTAGE_MAX_STALENESS_S)
    wait_for("a fresh heartbeat", lambda: validate(webhook.port, webhook.ca, seal_write(alice.address))["allowed"])
    wait_for("a saved cursor", lambda: operator_cursor(kubectl, namespace) != "", timeout=30)
    before = statuses(kubectl, "sealtokens", [name])
    cursor = operator_cursor(kubectl, namespace)

    proxy.set_mode("no-objects")
    chain.revoke(alice, token)

    def status_kept() -> None:
        assert statuses(kubectl, "sealtokens", [name]) == before, "status changed while object reads failed"

    first_stale_denial(webhook.port, webhook.ca, alice.address, status_kept, "after object reads started failing")
    assert _failed_token_reads(operator.metrics()) > 0, "the operator never tried to read the revoked token"
    assert operator_cursor(kubectl, namespace) == cursor, "the cursor moved past an event it could not apply"
    staleness = webhook_metrics(webhook.port, webhook.ca)
    assert re.search(r"^k3s_daas_webhook_chain_staleness_seconds (\S+)$", staleness, re.MULTILINE)
    operator.assert_running()

    proxy.set_mode("pass")
    wait_for("alice Revoked", lambda: phase(kubectl, "sealtokens", name) == "Revoked", timeout=60)
    wait_for("the cursor past the revocation", lambda: operator_cursor(kubectl, namespace) != cursor, timeout=30)
    wait_for(
        "a denial for the revocation, no longer for staleness",
        lambda: "unreachable" not in validate(webhook.port, webhook.ca, seal_write(alice.address))["status"]["message"],
        timeout=30,
    )
    assert not validate(webhook.port, webhook.ca, seal_write(alice.address))["allowed"]
