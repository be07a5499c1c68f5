"""What a SealToken's status should be, given chain state and the time (pure).

The checks run in the order of the CRD's phase description; the first failing one decides:
the object exists and is owned by spec.owner (else NotFound), it is not revoked (Revoked), not
expired (Expired), and its stake is active with at least the role minimum (InsufficientStake).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from k3s_daas.chain import SealToken, StakeRecord, StakeStatus
from k3s_daas.grants import grants_for
from k3s_daas.permissions import Permission
from k3s_daas.stake import Role, format_sui
from k3s_daas_operator.resources import SealTokenPhase, SealTokenResource


@dataclass(frozen=True, slots=True)
class SealTokenVerdict:
    phase: SealTokenPhase
    message: str
    role: Role | None = None
    stake_record: str | None = None
    stake_mist: int | None = None
    permissions: tuple[str, ...] = ()
    expires_at_ms: int | None = None
    grants: tuple[Permission, ...] = ()
    """What RBAC grants: empty unless Active."""

    @property
    def active(self) -> bool:
        return self.phase is SealTokenPhase.ACTIVE


def decide_sealtoken(
    resource: SealTokenResource, token: SealToken | None, stake: StakeRecord | None, now_ms: int
) -> SealTokenVerdict:
    if token is None:
        return SealTokenVerdict(SealTokenPhase.NOT_FOUND, f"no on-chain SealToken {resource.token_object}")
    if token.owner != resource.owner:
        return SealTokenVerdict(
            SealTokenPhase.NOT_FOUND, f"on-chain SealToken {token.object_id} is owned by {token.owner}, not spec.owner"
        )
    facts = SealTokenVerdict(
        SealTokenPhase.PENDING,
        "",
        role=None if stake is None else stake.role,
        stake_record=token.stake_record,
        stake_mist=None if stake is None else stake.amount_mist,
        permissions=token.permissions,
        expires_at_ms=token.expires_at_ms if token.entry is None else token.entry.expires_at_ms,
    )
    if token.revoked:
        return replace(facts, phase=SealTokenPhase.REVOKED, message="revoked on chain")
    if token.expired(now_ms):
        return replace(facts, phase=SealTokenPhase.EXPIRED, message="expired on chain")
    problem = _stake_problem(stake)
    if problem is not None or stake is None:
        return replace(facts, phase=SealTokenPhase.INSUFFICIENT_STAKE, message=problem or "no stake")
    grants = grants_for(stake.role, token.permissions)
    message = f"{stake.role.label} stake of {format_sui(stake.amount_mist)} SUI"
    if grants.refused:
        message += "; " + "; ".join(grants.refused)
    return replace(facts, phase=SealTokenPhase.ACTIVE, message=message, grants=grants.granted)


def _stake_problem(stake: StakeRecord | None) -> str | None:
    if stake is None or stake.entry is None:
        return "the backing stake no longer exists (withdrawn)"
    if stake.role is Role.NODE:
        return "a node stake cannot back a Seal token"
    if stake.status is not StakeStatus.ACTIVE:
        return f"the backing stake is {stake.status.label}"
    if stake.amount_mist < stake.role.minimum_mist:
        return (
            f"stake {format_sui(stake.amount_mist)} SUI is below the {stake.role.label} minimum "
            f"of {format_sui(stake.role.minimum_mist)} SUI"
        )
    return None
