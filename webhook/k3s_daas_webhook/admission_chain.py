"""Chain freshness: how long ago the operator last confirmed chain state, and the gate it drives.

The operator publishes a heartbeat Lease (``k3s_daas.chain_heartbeat``); the webhook watches it into a
``ChainHeartbeat`` snapshot. Staleness is ``now - confirmed_at``. Past the maximum staleness, stake-gated
writes (Seal users' writes) are refused with a message that says the chain is unreachable and since
when; everything else is unchanged (docs/failure-modes.md, "Maximum staleness"):

* authentication (reads) keeps answering from the last verified state: a read changes nothing, and
  refusing it would also lock users out of diagnosing the outage; its window is bounded by token
  expiry, which the webhook checks itself;
* node identities are never gated on it: a kubelet refused its own Node updates would take a healthy
  cluster down because a chain endpoint is unreachable;
* no heartbeat ever seen (never written: an operator that predates it, or no RBAC to read it) is
  "unknown", not "stale": the gauge reads NaN, ``k3s_daas_webhook_chain_heartbeat_seen`` 0, and
  writes are not refused on this ground.

Once a heartbeat has been seen the gate fails closed: deleting the Lease (or a relist that no longer
finds it) keeps the last confirmation, which goes on aging into "stale"; a Lease whose ``renewTime``
is missing or not a time, or lies more than ``FUTURE_SKEW_S`` ahead of this clock, confirms nothing
and counts as stale at once (staleness +Inf). Otherwise deleting the Lease, or writing a far-future
time into it, would open the gate for good during an outage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from k3s_daas import chain_heartbeat
from k3s_daas_webhook.admission_verdict import Rule, Verdict

HEARTBEAT_KIND: Final = "ChainHeartbeat"
FUTURE_SKEW_S: Final = 60.0
"""How far ahead of this webhook's clock a confirmation may lie (clock skew with the operator's) and
still count; further ahead it confirms nothing."""


@dataclass(frozen=True, slots=True)
class ChainHeartbeat:
    """The heartbeat Lease as last watched.

    ``confirmed_at``: the last trustworthy confirmation seen, kept when the Lease is deleted or rewritten
    without a time; ``unconfirmed``: why the Lease as it stands confirms nothing ("" when it does);
    ``deleted``: a Lease was seen and is gone. None of them: no heartbeat ever seen ("unknown").
    """

    confirmed_at: float | None = None
    checkpoint: int | None = None
    holder: str = ""
    unconfirmed: str = ""
    deleted: bool = False

    @property
    def seen(self) -> bool:
        return self.confirmed_at is not None or bool(self.unconfirmed) or self.deleted

    def __len__(self) -> int:
        return 1 if self.seen and not self.deleted else 0

    @classmethod
    def from_items(cls, items: list[dict[str, Any]]) -> ChainHeartbeat:
        found = [item for item in items if _name(item) == chain_heartbeat.LEASE_NAME]
        return cls().with_resource(found[0]) if found else cls()

    def with_resource(self, resource: Mapping[str, Any]) -> ChainHeartbeat:
        if _name(resource) != chain_heartbeat.LEASE_NAME:
            return self
        spec = resource.get("spec")
        holder = spec.get("holderIdentity") if isinstance(spec, Mapping) else None
        holder = holder if isinstance(holder, str) else ""
        confirmed = chain_heartbeat.confirmed_at(resource)
        if confirmed is not None:
            return ChainHeartbeat(confirmed, chain_heartbeat.checkpoint_of(resource), holder)
        raw = spec.get("renewTime") if isinstance(spec, Mapping) else None
        why = f"has a renewTime that is not a time ({str(raw)[:40]!r})" if raw else "has no renewTime"
        return ChainHeartbeat(self.confirmed_at, self.checkpoint, holder, unconfirmed=why)

    def without(self, name: str) -> ChainHeartbeat:
        if name != chain_heartbeat.LEASE_NAME or not self.seen:
            return self
        # The last confirmation goes on aging; with none ever made, the Lease stays untrusted.
        unconfirmed = "was deleted before it carried a valid renewTime" if self.confirmed_at is None else ""
        return ChainHeartbeat(self.confirmed_at, self.checkpoint, self.holder, unconfirmed, deleted=True)

    def relisted(self, fresh: ChainHeartbeat) -> ChainHeartbeat:
        """After a (re)list: ``fresh`` was built from the list alone, so carry over what it cannot know."""
        if not fresh.seen:
            return self.without(chain_heartbeat.LEASE_NAME)
        if fresh.unconfirmed and fresh.confirmed_at is None:
            return ChainHeartbeat(self.confirmed_at, self.checkpoint, fresh.holder, fresh.unconfirmed)
        return fresh

    def staleness(self, now: float) -> float:
        """Seconds since the last confirmation: NaN when no heartbeat was ever seen, +Inf when the Lease
        confirms nothing (see ``distrusted``), never negative within ``FUTURE_SKEW_S``."""
        if not self.seen:
            return math.nan
        if self.confirmed_at is None or self.distrusted(now):
            return math.inf
        return max(0.0, now - self.confirmed_at)

    def distrusted(self, now: float) -> str:
        """Why the heartbeat confirms nothing at ``now`` ("" when it can be aged normally)."""
        if self.unconfirmed:
            return f"the chain heartbeat Lease {chain_heartbeat.LEASE_NAME} {self.unconfirmed}"
        if self.confirmed_at is not None and self.confirmed_at - now > FUTURE_SKEW_S:
            return (
                f"the chain heartbeat Lease {chain_heartbeat.LEASE_NAME} claims a confirmation at "
                f"{_utc(self.confirmed_at)}, {self.confirmed_at - now:.0f} s ahead of this webhook's clock "
                f"(more than the {FUTURE_SKEW_S:g} s of clock skew allowed)"
            )
        return ""


def _name(resource: Mapping[str, Any]) -> str | None:
    metadata = resource.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else None


def _utc(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chain_unreachable(heartbeat: ChainHeartbeat, max_staleness_s: float, now: float) -> Verdict | None:
    """The denial of a stake-gated write while chain state is older than allowed, or cannot be shown to
    be fresh; None: fresh enough, or no heartbeat ever seen."""
    age = heartbeat.staleness(now)
    if math.isnan(age) or age <= max_staleness_s:
        return None
    distrusted = heartbeat.distrusted(now)
    if distrusted or heartbeat.confirmed_at is None:
        return Verdict.deny(
            Rule.CHAIN_UNREACHABLE,
            f"chain state cannot be shown to be fresh: {distrusted or 'the chain heartbeat Lease was deleted'}, "
            "so writes that need stake are refused until the operator publishes the heartbeat again; "
            "reads still work",
        )
    deleted = f" (its heartbeat Lease {chain_heartbeat.LEASE_NAME} was deleted since)" if heartbeat.deleted else ""
    return Verdict.deny(
        Rule.CHAIN_UNREACHABLE,
        f"the chain is unreachable: stake and Seal tokens were last confirmed on chain at "
        f"{_utc(heartbeat.confirmed_at)}{deleted} ({age:.0f} s ago, more than the {max_staleness_s:g} s allowed), "
        "so writes that need stake are refused until the operator reads the chain again; reads still work",
    )
