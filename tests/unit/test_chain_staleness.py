"""Chain staleness as an input of the admission decision, the heartbeat it comes from, and the pure part
of the operator's leader election."""

from __future__ import annotations

import math

import pytest

from k3s_daas import chain_heartbeat
from k3s_daas_operator.leader import may_take
from k3s_daas_webhook.admission import Rule, decide
from k3s_daas_webhook.admission_chain import FUTURE_SKEW_S, ChainHeartbeat, chain_unreachable
from k3s_daas_webhook.admission_state import AdmissionPolicy, AdmissionState
from k3s_daas_webhook.admissionreview import AdmissionRequest, UserInfo
from k3s_daas_webhook.index import IdentitySnapshot, IndexEntry

NOW = 1_800_000_000.0
ALICE = "0x" + "a1" * 32
POLICY = AdmissionPolicy(max_chain_staleness_s=60)


def _state(confirmed_at: float | None) -> AdmissionState:
    entry = IndexEntry(
        name="alice",
        owner=ALICE,
        token_object="0x" + "ab" * 32,
        phase="Active",
        role="user",
        stake_mist=600_000_000,
        expires_at=NOW + 3600,
        permissions=("configmaps:create",),
    )
    return AdmissionState(IdentitySnapshot.build([entry]), chain=ChainHeartbeat(confirmed_at))


def _write(user: str = f"sui:{ALICE}", groups: frozenset[str] = frozenset({"k3s-daas:stakers"})) -> AdmissionRequest:
    return AdmissionRequest(
        uid="u",
        operation="CREATE",
        group="",
        resource="configmaps",
        subresource="",
        name="cm",
        namespace="default",
        user=UserInfo(user, groups, {}),
        options_kind="",
        object=None,
        old_object=None,
    )


def test_a_fresh_heartbeat_lets_the_stake_gate_decide():
    assert decide(_write(), _state(NOW - 59), POLICY, NOW).allowed


def test_past_the_maximum_staleness_seal_writes_are_refused_saying_since_when():
    verdict = decide(_write(), _state(NOW - 61), POLICY, NOW)
    assert not verdict.allowed and verdict.rule is Rule.CHAIN_UNREACHABLE
    assert verdict.message.startswith("the chain is unreachable: ")
    assert "last confirmed on chain at 2027-01-15T07:58:59Z (61 s ago" in verdict.message
    assert "more than the 60 s allowed" in verdict.message


def test_staleness_is_checked_before_the_stake_gate():
    # A stale chain decides even for a caller the index would refuse anyway: one message, the right one.
    stranger = "0x" + "b0" * 32
    verdict = decide(_write(f"sui:{stranger}"), _state(NOW - 3600), POLICY, NOW)
    assert verdict.rule is Rule.CHAIN_UNREACHABLE


@pytest.mark.parametrize(
    ("user", "groups"),
    [
        ("system:node:worker-1", frozenset({"system:nodes"})),  # kubelets keep updating their Node
        ("admin", frozenset({"system:masters"})),  # break-glass
        ("system:serviceaccount:k3s-daas:k3s-daas-operator", frozenset()),  # the operator
        ("jane", frozenset({"system:authenticated"})),  # other authenticators: not stake-gated
    ],
)
def test_only_stake_gated_writes_are_refused_when_stale(user: str, groups: frozenset[str]):
    verdict = decide(_write(user, groups), _state(NOW - 3600), POLICY, NOW)
    assert verdict.rule is not Rule.CHAIN_UNREACHABLE


def test_no_heartbeat_is_unknown_not_stale():
    heartbeat = ChainHeartbeat()
    assert math.isnan(heartbeat.staleness(NOW))
    assert chain_unreachable(heartbeat, 60, NOW) is None
    assert decide(_write(), _state(None), POLICY, NOW).allowed


def test_a_heartbeat_slightly_in_the_future_counts_as_fresh_not_negative():
    assert ChainHeartbeat(NOW + 5).staleness(NOW) == 0.0
    assert ChainHeartbeat(NOW + FUTURE_SKEW_S).staleness(NOW) == 0.0
    assert decide(_write(), _state(NOW + FUTURE_SKEW_S), POLICY, NOW).allowed


def test_a_heartbeat_further_in_the_future_than_the_skew_is_stale():
    heartbeat = ChainHeartbeat(NOW + 3600)
    assert heartbeat.staleness(NOW) == math.inf
    verdict = decide(_write(), AdmissionState(_state(None).tokens, chain=heartbeat), POLICY, NOW)
    assert not verdict.allowed and verdict.rule is Rule.CHAIN_UNREACHABLE
    assert verdict.message.startswith("chain state cannot be shown to be fresh: the chain heartbeat Lease ")
    assert "3600 s ahead of this webhook's clock (more than the 60 s of clock skew allowed)" in verdict.message


def _lease(renew_time: object = None, **spec: object) -> dict[str, object]:
    body: dict[str, object] = {"metadata": {"name": chain_heartbeat.LEASE_NAME}, "spec": dict(spec)}
    if renew_time is not None:
        body["spec"] = {**spec, "renewTime": renew_time}
    return body


def test_the_heartbeat_lease_round_trips_and_other_leases_are_ignored():
    body = chain_heartbeat.heartbeat_body("ns", "op-1", NOW - 2.5, 1234, "0x" + "11" * 32)
    heartbeat = ChainHeartbeat.from_items([{"metadata": {"name": "other"}}, body])
    assert heartbeat == ChainHeartbeat(NOW - 2.5, 1234, "op-1")
    assert heartbeat.seen and len(heartbeat) == 1
    assert heartbeat.with_resource({"metadata": {"name": "other"}, "spec": {}}) is heartbeat
    assert heartbeat.without("other") is heartbeat


def test_never_seeing_a_heartbeat_stays_unknown_through_deletes_and_relists():
    unknown = ChainHeartbeat()
    assert not unknown.seen and len(unknown) == 0
    assert unknown.without(chain_heartbeat.LEASE_NAME) == unknown
    assert unknown.relisted(ChainHeartbeat.from_items([])) == unknown
    assert chain_unreachable(unknown, 60, NOW) is None


def _deny(heartbeat: ChainHeartbeat, now: float = NOW) -> str:
    verdict = decide(_write(), AdmissionState(_state(None).tokens, chain=heartbeat), POLICY, now)
    assert not verdict.allowed and verdict.rule is Rule.CHAIN_UNREACHABLE
    return verdict.message


@pytest.mark.parametrize("how", ["watch", "relist"])
def test_deleting_the_lease_keeps_the_last_confirmation_which_ages_into_stale(how: str):
    # The reviewer's scenario: chain unreachable, an admin deletes the Lease before it went stale.
    seen = ChainHeartbeat.from_items([chain_heartbeat.heartbeat_body("ns", "op-1", NOW - 30, 7, "0x1")])
    gone = seen.without(chain_heartbeat.LEASE_NAME) if how == "watch" else seen.relisted(ChainHeartbeat.from_items([]))
    assert gone.seen and gone.deleted and gone.confirmed_at == NOW - 30 and len(gone) == 0
    assert gone.staleness(NOW) == 30
    assert decide(_write(), AdmissionState(_state(None).tokens, chain=gone), POLICY, NOW).allowed  # still fresh
    message = _deny(gone, NOW + 31)
    assert message.startswith("the chain is unreachable: stake and Seal tokens were last confirmed on chain at ")
    assert f"(its heartbeat Lease {chain_heartbeat.LEASE_NAME} was deleted since) (61 s ago" in message
    # Deleted again, relisted again: still the same confirmation, still aging.
    assert gone.without(chain_heartbeat.LEASE_NAME).relisted(ChainHeartbeat()) == gone


def test_a_recreated_lease_with_a_new_confirmation_counts_again():
    gone = ChainHeartbeat(NOW - 3600).without(chain_heartbeat.LEASE_NAME)
    back = gone.with_resource(chain_heartbeat.heartbeat_body("ns", "op-2", NOW - 1, None, "0x1"))
    assert back == ChainHeartbeat(NOW - 1, None, "op-2") and not back.deleted
    assert (
        gone.relisted(ChainHeartbeat.from_items([chain_heartbeat.heartbeat_body("ns", "op-2", NOW - 1, None, "0x1")]))
        == back
    )


@pytest.mark.parametrize(
    ("lease", "why"),
    [
        (_lease(holderIdentity="op-1"), "has no renewTime"),
        (_lease("yesterday"), "has a renewTime that is not a time ('yesterday')"),
        (_lease(12345), "has a renewTime that is not a time ('12345')"),
    ],
)
def test_a_lease_without_a_parseable_renew_time_is_stale_at_once(lease: dict[str, object], why: str):
    first = ChainHeartbeat.from_items([lease])  # even as the first heartbeat ever seen
    after = ChainHeartbeat(NOW - 2, 5, "op-1").with_resource(lease)  # or replacing a fresh one
    relisted = ChainHeartbeat(NOW - 2, 5, "op-1").relisted(ChainHeartbeat.from_items([lease]))
    for heartbeat in (first, after, relisted):
        assert heartbeat.seen and len(heartbeat) == 1 and heartbeat.staleness(NOW) == math.inf
        message = _deny(heartbeat)
        assert message == (
            f"chain state cannot be shown to be fresh: the chain heartbeat Lease {chain_heartbeat.LEASE_NAME} {why}, "
            "so writes that need stake are refused until the operator publishes the heartbeat again; reads still work"
        )
    assert after.confirmed_at == NOW - 2 and relisted.confirmed_at == NOW - 2  # kept for when it is deleted
    # Deleting the untrusted Lease ages the last good confirmation again; with none ever, it stays untrusted.
    assert after.without(chain_heartbeat.LEASE_NAME).staleness(NOW) == 2
    assert first.without(chain_heartbeat.LEASE_NAME).staleness(NOW) == math.inf
    assert "was deleted before it carried a valid renewTime" in _deny(first.without(chain_heartbeat.LEASE_NAME))


def test_the_webhook_policy_takes_the_maximum_from_settings():
    from k3s_daas.settings import Settings

    settings = Settings.from_env({"K3S_DAAS_WEBHOOK_MAX_CHAIN_STALENESS_S": "42"})
    assert AdmissionPolicy.from_settings(settings.webhook).max_chain_staleness_s == 42


@pytest.mark.parametrize(
    ("holder", "unchanged_for", "expected"),
    [("", 0, True), ("me", 0, True), ("other", 14.9, False), ("other", 15, True)],
)
def test_a_lease_is_taken_only_when_free_ours_or_unchanged_for_its_duration(holder, unchanged_for, expected):
    assert may_take(holder, "me", unchanged_for, 15) is expected
