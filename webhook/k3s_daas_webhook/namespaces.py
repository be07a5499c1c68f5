"""Per-address namespaces: which namespaces carry an owner, from a list + watch of Namespaces.

The owner is the annotation ``k3s-daas.io/owner: <Sui address>``. An annotation, not a label: a Sui
address (0x + 64 hex digits, 66 characters) does not fit a label value (at most 63). The raw value is
kept; one that is not an address matches nobody, so such a namespace is writable by admins only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

NAMESPACES_PATH: Final = "/api/v1/namespaces"
OWNER_ANNOTATION: Final = "k3s-daas.io/owner"


def owner_annotation(resource: Mapping[str, Any] | None) -> str | None:
    """The owner annotation of an object (a Namespace), or None when it has none."""
    if resource is None:
        return None
    metadata = resource.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping):
        return None
    value = annotations.get(OWNER_ANNOTATION)
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class NamespaceOwners:
    """Namespace name -> owner annotation, for annotated namespaces only. Never mutated."""

    owners: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_items(cls, items: list[dict[str, Any]]) -> NamespaceOwners:
        owners: dict[str, str] = {}
        for item in items:
            name = (item.get("metadata") or {}).get("name")
            owner = owner_annotation(item)
            if isinstance(name, str) and owner is not None:
                owners[name] = owner
        return cls(owners)

    def __len__(self) -> int:
        return len(self.owners)

    def owner_of(self, namespace: str) -> str | None:
        return self.owners.get(namespace)

    def with_resource(self, resource: Mapping[str, Any]) -> NamespaceOwners:
        name = (resource.get("metadata") or {}).get("name")
        if not isinstance(name, str):
            return self
        owner = owner_annotation(resource)
        if self.owners.get(name) == owner:
            return self  # most Namespace events change nothing we index: keep the snapshot
        owners = dict(self.owners)
        if owner is None:
            del owners[name]
        else:
            owners[name] = owner
        return NamespaceOwners(owners)

    def relisted(self, fresh: NamespaceOwners) -> NamespaceOwners:
        return fresh

    def without(self, name: str) -> NamespaceOwners:
        if name not in self.owners:
            return self
        owners = dict(self.owners)
        del owners[name]
        return NamespaceOwners(owners)
