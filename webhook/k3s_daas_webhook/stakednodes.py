"""The StakedNode index: Kubernetes node name -> the StakedNodes that pay for it (phase, owner).

Fed by a list + watch, so the Node guard decides on the newest phase the operator wrote. Several
StakedNodes may name one node (its owner staked again after a slash); the node is admitted while any
of them is Active.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from k3s_daas_webhook.join import NodeRecord, node_from_resource

STAKEDNODES_PATH: Final = "/apis/k3s-daas.io/v1alpha1/stakednodes"
ACTIVE: Final = "Active"


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """Every known StakedNode, by resource name and by node name. Never mutated."""

    by_name: Mapping[str, NodeRecord] = field(default_factory=dict)
    by_node: Mapping[str, tuple[NodeRecord, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, records: Iterable[NodeRecord]) -> NodeSnapshot:
        by_name = {record.name: record for record in records}
        by_node: dict[str, tuple[NodeRecord, ...]] = {}
        for record in by_name.values():
            by_node[record.node_name] = (*by_node.get(record.node_name, ()), record)
        return cls(by_name, by_node)

    @classmethod
    def from_items(cls, items: list[dict[str, Any]]) -> NodeSnapshot:
        return cls.build(record for item in items if (record := node_from_resource(item)) is not None)

    def __len__(self) -> int:
        return len(self.by_name)

    def records_for(self, node_name: str) -> tuple[NodeRecord, ...]:
        return self.by_node.get(node_name, ())

    def is_active(self, node_name: str) -> bool:
        return any(record.phase == ACTIVE for record in self.by_node.get(node_name, ()))

    def active_nodes(self) -> dict[str, str]:
        """Node name -> the name of an Active StakedNode for it (the first by name)."""
        return {
            node: min(record.name for record in records if record.phase == ACTIVE)
            for node, records in self.by_node.items()
            if any(record.phase == ACTIVE for record in records)
        }

    def with_resource(self, resource: Mapping[str, Any]) -> NodeSnapshot:
        record = node_from_resource(resource)
        if record is None:  # malformed (schema bypassed): it pays for nothing
            name = (resource.get("metadata") or {}).get("name")
            return self.without(name) if isinstance(name, str) else self
        by_name = dict(self.by_name)
        by_node = dict(self.by_node)
        previous = by_name.get(record.name)
        if previous is not None:
            _remove(by_node, previous)
        by_name[record.name] = record
        by_node[record.node_name] = (*by_node.get(record.node_name, ()), record)
        return NodeSnapshot(by_name, by_node)

    def relisted(self, fresh: NodeSnapshot) -> NodeSnapshot:
        return fresh

    def without(self, name: str) -> NodeSnapshot:
        previous = self.by_name.get(name)
        if previous is None:
            return self
        by_name = dict(self.by_name)
        del by_name[name]
        by_node = dict(self.by_node)
        _remove(by_node, previous)
        return NodeSnapshot(by_name, by_node)


def _remove(by_node: dict[str, tuple[NodeRecord, ...]], record: NodeRecord) -> None:
    remaining = tuple(other for other in by_node.get(record.node_name, ()) if other.name != record.name)
    if remaining:
        by_node[record.node_name] = remaining
    else:
        by_node.pop(record.node_name, None)
