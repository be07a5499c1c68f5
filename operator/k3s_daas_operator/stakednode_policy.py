"""What happens to a StakedNode, given its stake, its Node and the time (pure).

A node stake qualifies while its pool entry is active, unslashed and at least the node minimum.
Any slash disqualifies a node, even one that leaves the stake above the minimum: a slash is the
chain's verdict that the machine misbehaved. A stake never requalifies (amounts only go down and
unstaking cannot be undone), so removal is one-way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from k3s_daas.chain import StakeEntry, StakeRecord, StakeStatus
from k3s_daas.stake import Role, format_sui
from k3s_daas_operator.resources import NodePhase, StakedNodeResource

RENEW_FRACTION = 1 / 3
"""Renew a bootstrap token when this fraction of its lifetime is left."""


@dataclass(frozen=True, slots=True)
class NodeVerdict:
    qualifies: bool
    phase: NodePhase
    """Active when it qualifies, else the reason: Slashed, Unstaking, InsufficientStake or NotFound."""
    message: str
    stake_mist: int | None = None


def judge_stake(
    resource: StakedNodeResource, record: StakeRecord | None, entry: StakeEntry | None, slash_reason: str | None = None
) -> NodeVerdict:
    """``entry`` is the pool entry read on its own, for a record deleted by ``withdraw``."""
    if record is not None:
        mismatch = _mismatch(resource, record)
        if mismatch:
            return NodeVerdict(False, NodePhase.NOT_FOUND, mismatch)
        entry = record.entry
    if entry is None:
        return NodeVerdict(False, NodePhase.NOT_FOUND, f"no StakeRecord {resource.stake_record} on chain")
    amount = entry.amount_mist
    if entry.status is not StakeStatus.ACTIVE:
        return NodeVerdict(False, NodePhase.UNSTAKING, f"stake is {entry.status.label}", amount)
    if record is not None and amount < record.staked_amount_mist:
        slashed = format_sui(record.staked_amount_mist - amount)
        reason = f": {slash_reason}" if slash_reason else ""
        return NodeVerdict(False, NodePhase.SLASHED, f"slashed {slashed} SUI{reason}", amount)
    if amount < Role.NODE.minimum_mist:
        minimum = format_sui(Role.NODE.minimum_mist)
        return NodeVerdict(
            False, NodePhase.INSUFFICIENT_STAKE, f"stake {format_sui(amount)} SUI is below {minimum} SUI", amount
        )
    return NodeVerdict(True, NodePhase.ACTIVE, f"node stake of {format_sui(amount)} SUI", amount)


def _mismatch(resource: StakedNodeResource, record: StakeRecord) -> str:
    if record.role is not Role.NODE:
        return f"StakeRecord {record.object_id} is a {record.role.label} stake, not a node stake"
    if record.owner != resource.owner:
        return f"StakeRecord {record.object_id} is owned by {record.owner}, not spec.owner"
    if record.node_name != resource.node_name:
        return f"StakeRecord {record.object_id} pays for node {record.node_name!r}, not {resource.node_name!r}"
    return ""


class TokenAction(StrEnum):
    NONE = "none"
    ENSURE = "ensure"
    """Make sure the Secret named in status exists (it may not, after a crash)."""
    MINT = "mint"
    """Mint a new token (none yet, or the current one is due for renewal) and delete the old one."""
    DELETE = "delete"


def token_action(
    secret: str | None, expires_at: datetime | None, active: bool, joined: bool, now: datetime, ttl_s: float
) -> TokenAction:
    if not active or joined:
        return TokenAction.DELETE if secret else TokenAction.NONE
    if secret is None or expires_at is None or now >= renew_at(expires_at, ttl_s):
        return TokenAction.MINT
    return TokenAction.ENSURE


def renew_at(expires_at: datetime, ttl_s: float) -> datetime:
    return expires_at - timedelta(seconds=ttl_s * RENEW_FRACTION)


class DrainNext(StrEnum):
    CONTINUE = "continue"
    TAINT_AND_REMOVE = "taint-and-remove"
    REMOVE = "remove"


def drain_next(remaining: int, started_at: datetime, now: datetime, deadline_s: float) -> DrainNext:
    """After an eviction round: remove the Node once it is empty; at the deadline, taint it NoExecute
    (so whatever still runs there stops) and remove it anyway; otherwise keep draining."""
    if remaining == 0:
        return DrainNext.REMOVE
    if now >= started_at + timedelta(seconds=deadline_s):
        return DrainNext.TAINT_AND_REMOVE
    return DrainNext.CONTINUE
