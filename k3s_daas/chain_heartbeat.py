"""The chain heartbeat: when the operator last confirmed chain state, published for the webhook.

The webhook never reads the chain; what it serves is only as fresh as the statuses the operator
wrote. So the operator publishes, in a ``coordination.k8s.io/v1`` Lease in its namespace, the time
at which it last had read the package's event stream to its end *and* applied every event before
that point (no object waiting on a failed chain read). The webhook watches that Lease and refuses
stake-gated writes once it is older than its maximum staleness (docs/failure-modes.md).

A Lease, not a ConfigMap: it is Kubernetes' object for heartbeats (node heartbeats are Leases),
small, and ``renewTime`` carries microseconds. ``renewTime`` is the confirmation time (the
operator's wall clock), ``holderIdentity`` the operator instance that wrote it, and annotations
the chain checkpoint and package it refers to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

LEASE_NAME: Final = "k3s-daas-chain-heartbeat"
LEASES_API: Final = "/apis/coordination.k8s.io/v1"
ANNOTATION_CHECKPOINT: Final = "k3s-daas.io/chain-checkpoint"
ANNOTATION_PACKAGE: Final = "k3s-daas.io/package-id"


def leases_path(namespace: str, name: str = "") -> str:
    return f"{LEASES_API}/namespaces/{namespace}/leases" + (f"/{name}" if name else "")


def micro_time(unix: float) -> str:
    """Kubernetes' MicroTime (RFC 3339 with microseconds, UTC)."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> float | None:
    """Kubernetes' Time or MicroTime as Unix seconds; None when absent or not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def heartbeat_body(
    namespace: str, holder: str, confirmed_at: float, checkpoint: int | None, package_id: str
) -> dict[str, Any]:
    annotations = {ANNOTATION_PACKAGE: package_id}
    if checkpoint is not None:
        annotations[ANNOTATION_CHECKPOINT] = str(checkpoint)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": LEASE_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "k3s-daas-operator"},
            "annotations": annotations,
        },
        "spec": {"holderIdentity": holder, "renewTime": micro_time(confirmed_at)},
    }


def confirmed_at(lease: Mapping[str, Any]) -> float | None:
    """The confirmation time a heartbeat Lease carries; None when it carries none (or garbage)."""
    spec = lease.get("spec")
    return parse_time(spec.get("renewTime")) if isinstance(spec, Mapping) else None


def checkpoint_of(lease: Mapping[str, Any]) -> int | None:
    metadata = lease.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    value = annotations.get(ANNOTATION_CHECKPOINT) if isinstance(annotations, Mapping) else None
    return int(value) if isinstance(value, str) and value.isdigit() else None
