"""What the operator and the webhook read from the chain, as typed, immutable values.

The owned objects (``StakeRecord``, ``SealToken``) carry the immutable facts; the shared pool's
and gateway's table entries carry the authoritative current state (docs/chain-model.md). Each
value is parsed strictly from Sui's JSON rendering of the Move value (u64 as strings, u8 as
numbers, addresses as 0x + 64 hex digits); anything else is a ``ChainMalformedAnswer``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from k3s_daas.chain.errors import ChainMalformedAnswer
from k3s_daas.stake import Role, meets_minimum


class StakeStatus(IntEnum):
    """``StakeEntry.status`` (u8 on chain)."""

    ACTIVE = 0
    UNSTAKING = 1
    WITHDRAWN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class StakeEntry:
    """``staking::StakeEntry``: the pool's authoritative state of one stake."""

    owner: str
    role: Role
    amount_mist: int
    node_name: str
    status: StakeStatus
    unstake_requested_at_ms: int

    @property
    def meets_minimum(self) -> bool:
        """``staking::meets_minimum``: active and holding at least its role's minimum."""
        return self.status is StakeStatus.ACTIVE and meets_minimum(self.role, self.amount_mist)


@dataclass(frozen=True, slots=True)
class StakeRecord:
    """``staking::StakeRecord`` (owned by the staker) with its pool entry.

    ``entry`` is None when the pool has no entry for the record (only possible for a record
    that was never staked through the pool, e.g. on a forked package).
    """

    object_id: str
    version: int
    owner: str
    role: Role
    staked_amount_mist: int
    """The amount at stake time; ``amount_mist`` is the current one."""
    node_name: str
    staked_at_ms: int
    entry: StakeEntry | None
    checkpoint: int
    """The checkpoint the read was consistent with."""

    @property
    def amount_mist(self) -> int:
        return 0 if self.entry is None else self.entry.amount_mist

    @property
    def status(self) -> StakeStatus:
        return StakeStatus.WITHDRAWN if self.entry is None else self.entry.status

    @property
    def meets_minimum(self) -> bool:
        return self.entry is not None and self.entry.meets_minimum


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """``k8s_gateway::TokenEntry``: revocation and expiry of one Seal token."""

    owner: str
    stake_record: str
    expires_at_ms: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class SealToken:
    """``k8s_gateway::SealToken`` (owned by the user) with its gateway entry."""

    object_id: str
    version: int
    owner: str
    stake_record: str
    permissions: tuple[str, ...]
    issued_at_ms: int
    expires_at_ms: int
    entry: TokenEntry | None
    checkpoint: int

    @property
    def revoked(self) -> bool:
        return self.entry is None or self.entry.revoked

    def expired(self, now_ms: int) -> bool:
        expires = self.expires_at_ms if self.entry is None else self.entry.expires_at_ms
        return now_ms >= expires


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One event of the package, with the cursor to resume reading right after it."""

    type: str
    """Full type name ``0x<package>::<module>::<Event>`` as Sui shows it."""
    module: str
    name: str
    package_id: str
    fields: Mapping[str, object]
    cursor: str
    checkpoint: int | None
    timestamp_ms: int | None
    sender: str | None
    transaction_digest: str | None
    sequence_number: int


@dataclass(frozen=True, slots=True)
class EventPage:
    events: tuple[ChainEvent, ...]
    cursor: str | None
    """Where to resume: the last event's cursor, or the cursor passed in for an empty page."""
    has_more: bool
    checkpoint: int
    """The latest checkpoint when the page was read."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """The package and its shared objects, found on chain from the package id."""

    chain_identifier: str
    package_id: str
    staking_pool_id: str
    stake_table_id: str
    gateway_id: str
    token_table_id: str
    response_table_id: str = ""
    """The Gateway's ``Table<u64, K8sResponse>`` (on-chain request mode)."""


# --- strict parsing of Move JSON --------------------------------------------------------------

_ADDRESS: Final = re.compile(r"0x[0-9a-f]{64}")


def _fail(what: str, value: object) -> ChainMalformedAnswer:
    return ChainMalformedAnswer(f"malformed {what}: {value!r}")


def field(data: Mapping[str, object], name: str, what: str) -> object:
    if name not in data:
        raise ChainMalformedAnswer(f"{what} has no field {name!r}")
    return data[name]


def as_mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _fail(what, value)
    return value


def as_address(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise _fail(what, value)
    return value


def as_u64(value: object, what: str) -> int:
    # Sui renders u64 as a decimal string.
    if not isinstance(value, str) or not value.isdigit() or int(value) >= 2**64:
        raise _fail(what, value)
    return int(value)


def as_u8(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise _fail(what, value)
    return value


def as_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _fail(what, value)
    return value


def as_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(what, value)
    return value


def as_role(value: object, what: str) -> Role:
    try:
        return Role(as_u8(value, what))
    except ValueError:
        raise _fail(what, value) from None


def as_status(value: object, what: str) -> StakeStatus:
    try:
        return StakeStatus(as_u8(value, what))
    except ValueError:
        raise _fail(what, value) from None


def parse_stake_entry(data: Mapping[str, object]) -> StakeEntry:
    what = "StakeEntry"
    return StakeEntry(
        owner=as_address(field(data, "owner", what), f"{what}.owner"),
        role=as_role(field(data, "role", what), f"{what}.role"),
        amount_mist=as_u64(field(data, "amount", what), f"{what}.amount"),
        node_name=as_str(field(data, "node_name", what), f"{what}.node_name"),
        status=as_status(field(data, "status", what), f"{what}.status"),
        unstake_requested_at_ms=as_u64(field(data, "unstake_requested_at_ms", what), f"{what}.unstake_requested_at_ms"),
    )


def parse_stake_record(
    data: Mapping[str, object], version: int, entry: StakeEntry | None, checkpoint: int
) -> StakeRecord:
    what = "StakeRecord"
    return StakeRecord(
        object_id=as_address(field(data, "id", what), f"{what}.id"),
        version=version,
        owner=as_address(field(data, "owner", what), f"{what}.owner"),
        role=as_role(field(data, "role", what), f"{what}.role"),
        staked_amount_mist=as_u64(field(data, "amount", what), f"{what}.amount"),
        node_name=as_str(field(data, "node_name", what), f"{what}.node_name"),
        staked_at_ms=as_u64(field(data, "staked_at_ms", what), f"{what}.staked_at_ms"),
        entry=entry,
        checkpoint=checkpoint,
    )


def parse_token_entry(data: Mapping[str, object]) -> TokenEntry:
    what = "TokenEntry"
    return TokenEntry(
        owner=as_address(field(data, "owner", what), f"{what}.owner"),
        stake_record=as_address(field(data, "stake_record", what), f"{what}.stake_record"),
        expires_at_ms=as_u64(field(data, "expires_at_ms", what), f"{what}.expires_at_ms"),
        revoked=as_bool(field(data, "revoked", what), f"{what}.revoked"),
    )


def parse_seal_token(data: Mapping[str, object], version: int, entry: TokenEntry | None, checkpoint: int) -> SealToken:
    what = "SealToken"
    permissions = field(data, "permissions", what)
    if not isinstance(permissions, list):
        raise _fail(f"{what}.permissions", permissions)
    return SealToken(
        object_id=as_address(field(data, "id", what), f"{what}.id"),
        version=version,
        owner=as_address(field(data, "owner", what), f"{what}.owner"),
        stake_record=as_address(field(data, "stake_record", what), f"{what}.stake_record"),
        permissions=tuple(as_str(p, f"{what}.permissions[]") for p in permissions),
        issued_at_ms=as_u64(field(data, "issued_at_ms", what), f"{what}.issued_at_ms"),
        expires_at_ms=as_u64(field(data, "expires_at_ms", what), f"{what}.expires_at_ms"),
        entry=entry,
        checkpoint=checkpoint,
    )
