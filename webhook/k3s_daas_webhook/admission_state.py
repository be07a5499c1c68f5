"""What admission decides on: the newest watched state, and the cluster's fixed policy settings.

``AdmissionState`` is four immutable snapshots taken together at the start of a request (the chain
heartbeat among them: staleness is an input like any other); the decision is a pure function of
(request, state, policy, now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from k3s_daas.settings import WebhookSettings
from k3s_daas_webhook.admission_chain import ChainHeartbeat
from k3s_daas_webhook.index import IdentitySnapshot, IndexHolder
from k3s_daas_webhook.namespaces import NamespaceOwners
from k3s_daas_webhook.snapshots import SnapshotHolder
from k3s_daas_webhook.stakednodes import NodeSnapshot

MASTERS_GROUP: Final = "system:masters"
SEAL_ADMIN_GROUP: Final = "k3s-daas:role:admin"


@dataclass(frozen=True, slots=True)
class AdmissionState:
    tokens: IdentitySnapshot = field(default_factory=IdentitySnapshot)
    nodes: NodeSnapshot = field(default_factory=NodeSnapshot)
    namespaces: NamespaceOwners = field(default_factory=NamespaceOwners)
    chain: ChainHeartbeat = field(default_factory=ChainHeartbeat)


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    operator_username: str = "system:serviceaccount:k3s-daas:k3s-daas-operator"
    project_namespace: str = "k3s-daas"
    static_nodes: frozenset[str] = frozenset()
    """Nodes admitted without a StakedNode (the k3s server's own)."""
    max_chain_staleness_s: float = 300.0
    """Seal users' writes are refused once chain state was last confirmed longer ago than this."""

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> AdmissionPolicy:
        return cls(
            operator_username=settings.operator_username,
            project_namespace=settings.project_namespace,
            static_nodes=frozenset(split_list(settings.static_nodes)),
            max_chain_staleness_s=settings.max_chain_staleness_s,
        )


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


class AdmissionSources:
    """The holders the watches publish into; ``current()`` takes one consistent state."""

    def __init__(
        self,
        tokens: IndexHolder,
        nodes: SnapshotHolder[NodeSnapshot] | None = None,
        namespaces: SnapshotHolder[NamespaceOwners] | None = None,
        chain: SnapshotHolder[ChainHeartbeat] | None = None,
    ) -> None:
        self.tokens = tokens
        self.nodes = nodes or SnapshotHolder(NodeSnapshot())
        self.namespaces = namespaces or SnapshotHolder(NamespaceOwners())
        # Not part of ``synced``: no heartbeat (none written, or no RBAC to read it) is "unknown",
        # which must not stop the webhook from serving (admission_chain).
        self.chain = chain or SnapshotHolder(ChainHeartbeat())

    @classmethod
    def preloaded(cls, tokens: IdentitySnapshot, nodes: NodeSnapshot, namespaces: NamespaceOwners) -> AdmissionSources:
        """Synced holders with fixed contents (tests, the benchmark)."""
        return cls(
            IndexHolder(tokens, synced=True),
            SnapshotHolder(nodes, synced=True),
            SnapshotHolder(namespaces, synced=True),
        )

    @property
    def synced(self) -> bool:
        return self.tokens.synced and self.nodes.synced and self.namespaces.synced

    def unsynced(self) -> list[str]:
        parts = {
            "SealTokens": self.tokens.synced,
            "StakedNodes": self.nodes.synced,
            "Namespaces": self.namespaces.synced,
        }
        return [name for name, synced in parts.items() if not synced]

    def resyncing(self) -> list[str]:
        """Collections whose watch was lost and that have not been listed again since (readiness)."""
        parts = {
            "SealTokens": self.tokens.current,
            "StakedNodes": self.nodes.current,
            "Namespaces": self.namespaces.current,
        }
        return [name for name, current in parts.items() if not current]

    def current(self) -> AdmissionState:
        return AdmissionState(self.tokens.snapshot, self.nodes.snapshot, self.namespaces.snapshot, self.chain.snapshot)
