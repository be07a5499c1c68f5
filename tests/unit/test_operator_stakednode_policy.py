"""Node stakes: qualification, bootstrap token lifecycle and drain steps (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from k3s_daas.chain import StakeEntry, StakeRecord, StakeStatus
from k3s_daas.stake import Role
from k3s_daas_operator.resources import NodePhase, StakedNodeResource
from k3s_daas_operator.stakednode_policy import DrainNext, TokenAction, drain_next, judge_stake, token_action

OWNER = "0x" + "a" * 64
RECORD = "0x" + "d" * 64
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SUI = 1_000_000_000


def resource(node: str = "worker-1") -> StakedNodeResource:
    return StakedNodeResource("sn", "uid", 1, node, OWNER, RECORD)


def record(amount: int = 2 * SUI, staked: int = 2 * SUI, status=StakeStatus.ACTIVE, role=Role.NODE, node="worker-1"):
    entry = StakeEntry(OWNER, role, amount, node, status, 0)
    return StakeRecord(RECORD, 1, OWNER, role, staked, node, 0, entry, 5)


@pytest.mark.parametrize(
    ("chain", "phase", "words"),
    [
        (record(), NodePhase.ACTIVE, "2 SUI"),
        (record(amount=int(1.5 * SUI)), NodePhase.SLASHED, "slashed 0.5 SUI: downtime"),
        (record(status=StakeStatus.UNSTAKING), NodePhase.UNSTAKING, "unstaking"),
        (record(amount=SUI // 2, staked=SUI // 2), NodePhase.INSUFFICIENT_STAKE, "below 1 SUI"),
        (record(role=Role.USER), NodePhase.NOT_FOUND, "not a node stake"),
        (record(node="other"), NodePhase.NOT_FOUND, "pays for node 'other'"),
        (None, NodePhase.NOT_FOUND, "no StakeRecord"),
    ],
)
def test_judge_stake(chain, phase, words) -> None:
    verdict = judge_stake(resource(), chain, None, "downtime")
    assert verdict.phase is phase and words in verdict.message
    assert verdict.qualifies is (phase is NodePhase.ACTIVE)


def test_any_slash_disqualifies_even_above_the_minimum() -> None:
    assert judge_stake(resource(), record(amount=5 * SUI, staked=6 * SUI), None).phase is NodePhase.SLASHED


def test_withdrawn_record_is_judged_from_its_pool_entry() -> None:
    entry = StakeEntry(OWNER, Role.NODE, 0, "worker-1", StakeStatus.WITHDRAWN, 1)
    assert judge_stake(resource(), None, entry).phase is NodePhase.UNSTAKING


def test_token_lifecycle() -> None:
    ttl = 3600.0
    fresh = NOW + timedelta(seconds=ttl)
    assert token_action(None, None, True, False, NOW, ttl) is TokenAction.MINT
    assert token_action("bootstrap-token-abcdef", fresh, True, False, NOW, ttl) is TokenAction.ENSURE
    # renewed once a third of the lifetime is left
    assert (
        token_action("bootstrap-token-abcdef", fresh, True, False, NOW + timedelta(seconds=2401), ttl)
        is TokenAction.MINT
    )
    assert token_action("bootstrap-token-abcdef", fresh, True, True, NOW, ttl) is TokenAction.DELETE  # joined
    assert token_action("bootstrap-token-abcdef", fresh, False, False, NOW, ttl) is TokenAction.DELETE
    assert token_action(None, None, True, True, NOW, ttl) is TokenAction.NONE


def test_drain_steps() -> None:
    assert drain_next(0, NOW, NOW, 300) is DrainNext.REMOVE
    assert drain_next(2, NOW, NOW + timedelta(seconds=299), 300) is DrainNext.CONTINUE
    assert drain_next(2, NOW, NOW + timedelta(seconds=300), 300) is DrainNext.TAINT_AND_REMOVE
