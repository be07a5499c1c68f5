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
* no heartbeat at all (never written: an operator that predates it, or no RBAC to read it) is
  "unknown", not "stale": the gauge reads NaN, ``k3s_daas_webhook_chain_heartbeat_seen`` 0, and
  writes are not refused on this ground. Only an admin can delete the Lease (project namespace).
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


@dataclass(frozen=True, slots=True)
class ChainHeartbeat:
    """The heartbeat Lease as last watched; ``confirmed_at`` None: none seen."""

    confirmed_at: float | None = None
    checkpoint: int | None = None
    holder: str = ""

    def __len__(self) -> int:
        return 0 if self.confirmed_at is None else 1

    @classmethod
    def from_items(cls, items: list[dict[str, Any]]) -> ChainHeartbeat:
        found = [item for item in items if _name(item) == chain_heartbeat.LEASE_NAME]
        return cls.from_lease(found[0]) if found else cls()

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> ChainHeartbeat:
        spec = lease.get("spec")
        holder = spec.get("holderIdentity") if isinstance(spec, Mapping) else None
        return cls(
            chain_heartbeat.confirmed_at(lease),
            chain_heartbeat.checkpoint_of(lease),
            holder if isinstance(holder, str) else "",
        )

    def with_resource(self, resource: Mapping[str, Any]) -> ChainHeartbeat:
        return ChainHeartbeat.from_lease(resource) if _name(resource) == chain_heartbeat.LEASE_NAME else self

    def without(self, name: str) -> ChainHeartbeat:
        return ChainHeartbeat() if name == chain_heartbeat.LEASE_NAME else self

    def staleness(self, now: float) -> float:
        """Seconds since the last confirmation; NaN when none is known (never negative: clock skew)."""
        return math.nan if self.confirmed_at is None else max(0.0, now - self.confirmed_at)


def _name(resource: Mapping[str, Any]) -> str | None:
    metadata = resource.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else None


def chain_unreachable(heartbeat: ChainHeartbeat, max_staleness_s: float, now: float) -> Verdict | None:
    """The denial of a stake-gated write while chain state is older than allowed; None: fresh enough."""
    age = heartbeat.staleness(now)
    if heartbeat.confirmed_at is None or age <= max_staleness_s:
        return None
    since = datetime.fromtimestamp(heartbeat.confirmed_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Verdict.deny(
        Rule.CHAIN_UNREACHABLE,
        f"the chain is unreachable: stake and Seal tokens were last confirmed on chain at {since} "
        f"({age:.0f} s ago, more than the {max_staleness_s:g} s allowed), so writes that need stake are refused "
        "until the operator reads the chain again; reads still work",
    )
