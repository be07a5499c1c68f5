"""What the reconcilers share: clients, caches, the queue, and the operator's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from k3s_daas.settings import OperatorSettings
from k3s_daas_operator.chain_view import ChainView
from k3s_daas_operator.index import ClusterIndex
from k3s_daas_operator.keyed_locks import KeyedLocks
from k3s_daas_operator.kube import KubeClient
from k3s_daas_operator.metrics import OperatorMetrics
from k3s_daas_operator.recorder import EventRecorder
from k3s_daas_operator.role_claims import RoleClaims
from k3s_daas_operator.workqueue import WorkQueue


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: OperatorSettings
    kube: KubeClient
    view: ChainView
    index: ClusterIndex
    queue: WorkQueue
    recorder: EventRecorder
    metrics: OperatorMetrics
    clock: Callable[[], datetime] = utc_now
    known_secrets: set[str] = field(default_factory=set)
    """Bootstrap token Secrets this process has created or seen exist (saves a create per check)."""
    drain_backoff: dict[str, int] = field(default_factory=dict)
    """Node name -> consecutive eviction rounds that were held back by a budget."""
    claims: RoleClaims = field(default_factory=RoleClaims)
    """Which SealTokens use which shared ClusterRole (rbac_sync)."""
    role_locks: KeyedLocks = field(default_factory=KeyedLocks)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
