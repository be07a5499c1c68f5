"""The TokenReview decision: a pure function of (verified claims, identity snapshot, now).

The signature, audience and token expiry were checked by k3s_daas.sealtoken before this runs; here
the address meets the SealToken resources the operator keeps verified against the chain.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from k3s_daas.sealtoken import SealClaims
from k3s_daas.stake import Role
from k3s_daas_webhook.index import IdentitySnapshot, IndexEntry

STAKERS_GROUP: Final = "k3s-daas:stakers"
ROLE_GROUP_PREFIX: Final = "k3s-daas:role:"
EXTRA_SEAL_TOKEN: Final = "k3s-daas.io/seal-token"  # noqa: S105 - a key name, not a secret
EXTRA_STAKE_MIST: Final = "k3s-daas.io/stake-mist"
USERNAME_PREFIX: Final = "sui:"

# Roles that may back API access: a node stake pays for a node, not for kubectl.
_API_ROLES: Final = {Role.USER.label: Role.USER, Role.ADMIN.label: Role.ADMIN}


class IdentityReason(enum.StrEnum):
    """Why a correctly signed token still does not authenticate."""

    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 - reason names, not secrets
    TOKEN_PENDING = "token_pending"  # noqa: S105
    REVOKED = "revoked"
    CHAIN_EXPIRED = "chain_expired"
    INSUFFICIENT_STAKE = "insufficient_stake"
    ROLE_NOT_ALLOWED = "role_not_allowed"


# When several of an address's tokens fail, report the one most worth acting on.
_REPORT_ORDER: Final = (
    IdentityReason.INSUFFICIENT_STAKE,
    IdentityReason.CHAIN_EXPIRED,
    IdentityReason.REVOKED,
    IdentityReason.TOKEN_PENDING,
    IdentityReason.ROLE_NOT_ALLOWED,
    IdentityReason.UNKNOWN_TOKEN,
)


@dataclass(frozen=True, slots=True)
class Identity:
    """The Kubernetes user a Seal token maps to (docs/cluster-objects.md)."""

    username: str
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...]

    def to_user_info(self) -> dict[str, object]:
        return {
            "username": self.username,
            "uid": self.username,
            "groups": list(self.groups),
            "extra": {key: list(values) for key, values in self.extra},
        }


@dataclass(frozen=True, slots=True)
class Authenticated:
    identity: Identity
    entry: IndexEntry
    valid_until: float
    """Until when the same inputs give this same answer: the earliest future expiry among the
    token's and the owner's SealTokens (after it, the choice or the verdict may change)."""


@dataclass(frozen=True, slots=True)
class Denied:
    reason: IdentityReason
    message: str


Decision = Authenticated | Denied


def problem(entry: IndexEntry, now: float) -> tuple[IdentityReason, str] | None:
    """Why ``entry`` cannot authenticate right now, or None when it can (admission asks the same)."""
    phase = entry.phase
    if phase == "Revoked":
        return IdentityReason.REVOKED, f"SealToken {entry.name} is revoked"
    if phase == "Expired":
        return IdentityReason.CHAIN_EXPIRED, f"SealToken {entry.name} has expired on chain"
    if phase == "InsufficientStake":
        return IdentityReason.INSUFFICIENT_STAKE, f"SealToken {entry.name}: stake below the role minimum"
    if phase == "NotFound":
        return IdentityReason.UNKNOWN_TOKEN, f"SealToken {entry.name} names no on-chain token of its owner"
    if phase != "Active":
        return IdentityReason.TOKEN_PENDING, f"SealToken {entry.name} is not verified yet (phase {phase or 'unset'})"
    if entry.expires_at is None:
        return IdentityReason.TOKEN_PENDING, f"SealToken {entry.name} has no recorded expiry"
    if entry.expires_at <= now:
        return IdentityReason.CHAIN_EXPIRED, f"SealToken {entry.name} expired on chain"
    role = _API_ROLES.get(entry.role or "")
    if role is None:
        return IdentityReason.ROLE_NOT_ALLOWED, f"SealToken {entry.name}: role {entry.role!r} cannot use the API"
    if entry.stake_mist is None or entry.stake_mist < role.minimum_mist:
        return (
            IdentityReason.INSUFFICIENT_STAKE,
            f"SealToken {entry.name}: stake {entry.stake_mist} MIST is below the {role.label} minimum "
            f"{role.minimum_mist}",
        )
    return None


def identity_for(entry: IndexEntry) -> Identity:
    role = entry.role or ""
    # Every name below is built from a validated address and a role from a fixed set: a "system:"
    # name (which would let a token impersonate a component) cannot be produced.
    username = USERNAME_PREFIX + entry.owner
    groups = (STAKERS_GROUP, ROLE_GROUP_PREFIX + role)
    extra: list[tuple[str, tuple[str, ...]]] = []
    if entry.token_object is not None:
        extra.append((EXTRA_SEAL_TOKEN, (entry.token_object,)))
    extra.append((EXTRA_STAKE_MIST, (str(entry.stake_mist),)))
    return Identity(username, groups, tuple(extra))


def _rank(entry: IndexEntry) -> tuple[int, float, str]:
    role = _API_ROLES.get(entry.role or "", Role.USER)
    return (int(role), entry.expires_at or 0.0, entry.name)


def decide(claims: SealClaims, snapshot: IdentitySnapshot, now: float) -> Decision:
    """Which identity (if any) the verified ``claims`` get, given the SealTokens in ``snapshot``."""
    entries = snapshot.entries_for(claims.subject)
    if claims.seal_token is not None:
        entries = tuple(entry for entry in entries if entry.token_object == claims.seal_token)
        if not entries:
            return Denied(
                IdentityReason.UNKNOWN_TOKEN, f"no SealToken resource for {claims.seal_token} owned by {claims.subject}"
            )
    if not entries:
        return Denied(IdentityReason.UNKNOWN_TOKEN, f"no SealToken resource owned by {claims.subject}")
    usable: list[IndexEntry] = []
    problems: list[tuple[IdentityReason, str]] = []
    for entry in entries:
        found = problem(entry, now)
        if found is None:
            usable.append(entry)
        else:
            problems.append(found)
    if usable:
        best = max(usable, key=_rank)
        expiries = [entry.expires_at for entry in entries if entry.expires_at is not None and entry.expires_at > now]
        return Authenticated(identity_for(best), best, min([float(claims.expires_at), *expiries]))
    reason, message = min(problems, key=lambda found: (_REPORT_ORDER.index(found[0]), found[1]))
    return Denied(reason, message)
