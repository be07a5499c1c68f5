"""The TokenReview decision and the identity index: pure functions of (claims, snapshot, now)."""

import pytest

from k3s_daas.sealtoken import SealClaims
from k3s_daas_webhook.decision import Authenticated, Denied, IdentityReason, decide
from k3s_daas_webhook.index import IdentitySnapshot, IndexEntry, entry_from_resource

NOW = 1_800_000_000.0
ALICE = "0x" + "a1" * 32
BOB = "0x" + "b0" * 32
OBJ1, OBJ2 = "0x" + "01" * 32, "0x" + "02" * 32


def entry(name="t1", owner=ALICE, obj=OBJ1, phase="Active", role="user", stake=500_000_000, expires=NOW + 60):
    return IndexEntry(name, owner, obj, phase, role, stake, expires)


def claims(subject=ALICE, seal_token=None):
    return SealClaims(
        subject=subject, audience="c", issued_at=int(NOW), expires_at=int(NOW) + 60, seal_token=seal_token
    )


def test_active_token_at_the_user_minimum_authenticates():
    decision = decide(claims(), IdentitySnapshot.build([entry()]), NOW)
    assert isinstance(decision, Authenticated)
    assert decision.identity.to_user_info() == {
        "username": f"sui:{ALICE}",
        "uid": f"sui:{ALICE}",
        "groups": ["k3s-daas:stakers", "k3s-daas:role:user"],
        "extra": {"k3s-daas.io/seal-token": [OBJ1], "k3s-daas.io/stake-mist": ["500000000"]},
    }


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"phase": "Revoked"}, IdentityReason.REVOKED),
        ({"phase": "Expired"}, IdentityReason.CHAIN_EXPIRED),
        ({"phase": "InsufficientStake"}, IdentityReason.INSUFFICIENT_STAKE),
        ({"phase": "NotFound"}, IdentityReason.UNKNOWN_TOKEN),
        ({"phase": "Pending"}, IdentityReason.TOKEN_PENDING),
        ({"phase": None}, IdentityReason.TOKEN_PENDING),
        ({"expires": None}, IdentityReason.TOKEN_PENDING),
        ({"expires": NOW}, IdentityReason.CHAIN_EXPIRED),
        ({"stake": 499_999_999}, IdentityReason.INSUFFICIENT_STAKE),
        ({"stake": None}, IdentityReason.INSUFFICIENT_STAKE),
        ({"role": "admin", "stake": 9_999_999_999}, IdentityReason.INSUFFICIENT_STAKE),
        ({"role": "node", "stake": 10**12}, IdentityReason.ROLE_NOT_ALLOWED),
        ({"role": None}, IdentityReason.ROLE_NOT_ALLOWED),
        ({"owner": BOB}, IdentityReason.UNKNOWN_TOKEN),
    ],
)
def test_denials(changes, reason):
    decision = decide(claims(), IdentitySnapshot.build([entry(**changes)]), NOW)
    assert isinstance(decision, Denied)
    assert decision.reason is reason


def test_answer_is_valid_until_the_first_expiry_involved():
    later, sooner = entry("a", expires=NOW + 3000), entry("b", obj=OBJ2, phase="Revoked", expires=NOW + 100)
    decision = decide(claims(), IdentitySnapshot.build([later, sooner]), NOW)
    assert isinstance(decision, Authenticated)
    assert decision.valid_until == NOW + 60  # the token's own exp comes first here
    decision = decide(claims(), IdentitySnapshot.build([entry("a", expires=NOW + 30)]), NOW)
    assert isinstance(decision, Authenticated) and decision.valid_until == NOW + 30


def test_strongest_usable_token_wins_and_a_named_one_is_honoured():
    snapshot = IdentitySnapshot.build(
        [entry("u", obj=OBJ1), entry("a", obj=OBJ2, role="admin", stake=10_000_000_000), entry("r", phase="Revoked")]
    )
    best = decide(claims(), snapshot, NOW)
    assert isinstance(best, Authenticated) and best.entry.name == "a"
    named = decide(claims(seal_token=OBJ1), snapshot, NOW)
    assert isinstance(named, Authenticated) and named.entry.name == "u"
    unknown = decide(claims(seal_token="0x" + "03" * 32), snapshot, NOW)
    assert isinstance(unknown, Denied) and unknown.reason is IdentityReason.UNKNOWN_TOKEN


def test_another_owners_token_is_never_used_even_when_named():
    snapshot = IdentitySnapshot.build([entry(owner=BOB)])
    decision = decide(claims(seal_token=OBJ1), snapshot, NOW)
    assert isinstance(decision, Denied) and decision.reason is IdentityReason.UNKNOWN_TOKEN


def test_most_actionable_reason_is_reported():
    snapshot = IdentitySnapshot.build([entry("old", phase="Revoked"), entry("new", stake=1)])
    decision = decide(claims(), snapshot, NOW)
    assert isinstance(decision, Denied) and decision.reason is IdentityReason.INSUFFICIENT_STAKE


def test_snapshot_updates_are_copies():
    first = IdentitySnapshot.build([entry("t1")])
    second = first.with_entry(entry("t1", phase="Revoked")).with_entry(entry("t2", owner=BOB))
    assert first.by_name["t1"].phase == "Active" and len(first) == 1
    assert second.by_name["t1"].phase == "Revoked" and len(second.entries_for(ALICE)) == 1
    third = second.without("t2").without("missing")
    assert third.entries_for(BOB) == () and len(second) == 2 and len(third) == 1


def test_entry_from_resource_reads_only_owner_name_and_status():
    resource = {
        "metadata": {"name": "t1"},
        "spec": {"owner": ALICE, "tokenObject": OBJ1},
        "status": {
            "phase": "Active",
            "role": "admin",
            "stakeMist": "18446744073709551616",
            "expiresAt": "2027-01-15T08:00:00Z",
            "permissions": ["pods:read"],
        },
    }
    assert entry_from_resource(resource) == IndexEntry(
        "t1", ALICE, OBJ1, "Active", "admin", 2**64, 1_800_000_000.0, permissions=("pods:read",)
    )


@pytest.mark.parametrize(
    "resource",
    [
        {},
        {"metadata": {"name": "t"}, "spec": {"owner": "0x1"}},
        {"metadata": {"name": "t"}, "spec": {"owner": ALICE.upper()}},
        {"metadata": {}, "spec": {"owner": ALICE}},
        {"metadata": "x", "spec": {"owner": ALICE}},
    ],
)
def test_resources_without_a_valid_owner_are_skipped(resource):
    assert entry_from_resource(resource) is None


def test_garbled_status_is_treated_as_not_verified():
    parsed = entry_from_resource(
        {"metadata": {"name": "t"}, "spec": {"owner": ALICE}, "status": {"stakeMist": "-1", "expiresAt": "soon"}}
    )
    assert parsed is not None and parsed.stake_mist is None and parsed.expires_at is None
    decision = decide(claims(), IdentitySnapshot.build([parsed]), NOW)
    assert isinstance(decision, Denied) and decision.reason is IdentityReason.TOKEN_PENDING
