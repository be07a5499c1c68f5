"""The SealToken decision: chain state and time in, phase, facts and grants out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from k3s_daas.chain import SealToken, StakeEntry, StakeRecord, StakeStatus, TokenEntry
from k3s_daas.grants import grants_for
from k3s_daas.stake import Role
from k3s_daas_operator.resources import MalformedResource, SealTokenPhase, SealTokenResource
from k3s_daas_operator.sealtoken_policy import decide_sealtoken

OWNER = "0x" + "a" * 64
OTHER = "0x" + "b" * 64
TOKEN = "0x" + "c" * 64
RECORD = "0x" + "d" * 64
NOW = 1_800_000_000_000


def resource(owner: str = OWNER) -> SealTokenResource:
    return SealTokenResource("t", "uid-1", 1, owner, TOKEN)


def stake(amount: int = 600_000_000, role: Role = Role.USER, status: StakeStatus = StakeStatus.ACTIVE) -> StakeRecord:
    entry = StakeEntry(OWNER, role, amount, "", status, 0)
    return StakeRecord(RECORD, 1, OWNER, role, amount, "", 0, entry, 7)


def token(
    revoked: bool = False, expires: int = NOW + 60_000, permissions: tuple[str, ...] = ("pods:read",)
) -> SealToken:
    entry = TokenEntry(OWNER, RECORD, expires, revoked)
    return SealToken(TOKEN, 1, OWNER, RECORD, permissions, NOW - 1000, expires, entry, 7)


def test_active_token_carries_stake_role_expiry_and_grants() -> None:
    verdict = decide_sealtoken(resource(), token(), stake(), NOW)
    assert verdict.phase is SealTokenPhase.ACTIVE and verdict.active
    assert verdict.role is Role.USER and verdict.stake_mist == 600_000_000 and verdict.stake_record == RECORD
    assert verdict.expires_at_ms == NOW + 60_000 and verdict.permissions == ("pods:read",)
    assert [(g.resource, g.verbs) for g in verdict.grants] == [("pods", ("get", "list", "watch"))]


@pytest.mark.parametrize(
    ("chain_token", "chain_stake", "owner", "phase"),
    [
        (None, None, OWNER, SealTokenPhase.NOT_FOUND),
        (token(), stake(), OTHER, SealTokenPhase.NOT_FOUND),
        (token(revoked=True), stake(), OWNER, SealTokenPhase.REVOKED),
        (token(expires=NOW), stake(), OWNER, SealTokenPhase.EXPIRED),
        (token(), stake(amount=100), OWNER, SealTokenPhase.INSUFFICIENT_STAKE),
        (token(), stake(status=StakeStatus.UNSTAKING), OWNER, SealTokenPhase.INSUFFICIENT_STAKE),
        (token(), None, OWNER, SealTokenPhase.INSUFFICIENT_STAKE),
        (token(), stake(role=Role.NODE, amount=2_000_000_000), OWNER, SealTokenPhase.INSUFFICIENT_STAKE),
        # the first failing check decides: revoked before expired before stake
        (token(revoked=True, expires=NOW - 1), stake(amount=1), OWNER, SealTokenPhase.REVOKED),
        (token(expires=NOW - 1), stake(amount=1), OWNER, SealTokenPhase.EXPIRED),
    ],
)
def test_first_failing_check_decides(chain_token, chain_stake, owner, phase) -> None:
    verdict = decide_sealtoken(resource(owner), chain_token, chain_stake, NOW)
    assert verdict.phase is phase and not verdict.grants and verdict.message


def test_missing_token_entry_counts_as_revoked() -> None:
    verdict = decide_sealtoken(resource(), replace(token(), entry=None), stake(), NOW)
    assert verdict.phase is SealTokenPhase.REVOKED


def test_user_tokens_are_not_granted_escalation_paths() -> None:
    texts = [
        "*:*",
        "secrets:get",
        "clusterroles.rbac.authorization.k8s.io:create",
        "pods:write",
        "nodes:get",
        "sealtokens.k3s-daas.io:create",
        "sealtokens.k3s-daas.io:read",
        "bogus",
        "pods:fly",
    ]
    grants = grants_for(Role.USER, texts)
    assert sorted((g.resource, g.group) for g in grants.granted) == [("pods", ""), ("sealtokens", "k3s-daas.io")]
    assert len(grants.refused) == 7
    assert len(grants_for(Role.ADMIN, texts).granted) == 7  # an admin stake gets every valid one


def test_malformed_resource_is_a_clear_error() -> None:
    with pytest.raises(MalformedResource, match=r"spec\.owner"):
        SealTokenResource.from_body(
            {"metadata": {"name": "x", "uid": "u"}, "spec": {"owner": "0xABC", "tokenObject": TOKEN}}
        )
    with pytest.raises(MalformedResource, match="no spec"):
        SealTokenResource.from_body({"metadata": {"name": "x", "uid": "u"}})
