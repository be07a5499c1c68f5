"""The operator's in-memory picture of the cluster objects it reads, kept from watch events.

It holds the parsed SealTokens and StakedNodes, the names of Nodes, and the RBAC objects the
operator owns, with reverse indexes from chain ids to the resources that name them. A listing
and the watch can deliver the same object out of order: the newer ``resourceVersion`` wins, and
a deleted uid is not brought back by an older listing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from k3s_daas_operator.resources import MalformedResource, SealTokenResource, StakedNodeResource

log = logging.getLogger(__name__)


class Kind(StrEnum):
    SEALTOKEN = "SealToken"
    STAKEDNODE = "StakedNode"


@dataclass(frozen=True, slots=True, order=True)
class Key:
    kind: Kind
    name: str


DELETED_MEMORY_S: Final = 600.0
"""How long a deleted uid is remembered, so that a listing taken before the deletion cannot bring the
object back: far longer than any list request may take."""


def _unlink(reverse: dict[str, set[str]], key: str, name: str) -> None:
    names = reverse.get(key)
    if names is not None:
        names.discard(name)
        if not names:
            del reverse[key]


def _version(body: Mapping[str, Any]) -> int:
    text = (body.get("metadata") or {}).get("resourceVersion", "")
    # resourceVersions are opaque; etcd's are integers, and only those are compared.
    return int(text) if isinstance(text, str) and text.isdigit() else -1


@dataclass(frozen=True, slots=True)
class RbacRecord:
    """A ClusterRole or ClusterRoleBinding the operator owns: its version, content digest and, for
    a binding, the ClusterRole it names."""

    resource_version: str
    fingerprint: bytes
    role_ref: str = ""

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> RbacRecord:
        from k3s_daas_operator.rbac import fingerprint, role_ref

        return cls(str(body["metadata"]["resourceVersion"]), fingerprint(body), role_ref(body))


@dataclass
class ClusterIndex:
    sealtokens: dict[str, SealTokenResource] = field(default_factory=dict)
    stakednodes: dict[str, StakedNodeResource] = field(default_factory=dict)
    nodes: dict[str, bool] = field(default_factory=dict)
    """Node name -> whether it is cordoned."""
    roles: dict[str, RbacRecord] = field(default_factory=dict)
    bindings: dict[str, RbacRecord] = field(default_factory=dict)
    _versions: dict[str, int] = field(default_factory=dict)
    _deleted: dict[str, float] = field(default_factory=dict)
    """uid -> when it was deleted (monotonic): kept for ``DELETED_MEMORY_S``, see ``forget_deletions``."""
    _by_token: dict[str, set[str]] = field(default_factory=dict)
    _by_node: dict[str, set[str]] = field(default_factory=dict)
    _by_record: dict[str, set[str]] = field(default_factory=dict)

    def _fresh(self, body: Mapping[str, Any]) -> str | None:
        """The uid when ``body`` is newer than what is held, else None."""
        uid = (body.get("metadata") or {}).get("uid")
        if not isinstance(uid, str) or uid in self._deleted:
            return None
        version = _version(body)
        # Equal: the watch echoing a write whose answer is already held (the operator's own
        # status writes), nothing new.
        if version >= 0 and self._versions.get(uid, -1) >= version:
            return None
        self._versions[uid] = version
        return uid

    def upsert_sealtoken(self, body: Mapping[str, Any]) -> SealTokenResource | None:
        """The parsed resource if ``body`` changed what is held (None: stale or malformed)."""
        if self._fresh(body) is None:
            return None
        try:
            resource = SealTokenResource.from_body(body)
        except MalformedResource as error:
            log.warning("ignoring %s", error)
            return None
        old = self.sealtokens.get(resource.name)
        if old is not None and old.token_object != resource.token_object:
            _unlink(self._by_token, old.token_object, old.name)
        self.sealtokens[resource.name] = resource
        self._by_token.setdefault(resource.token_object, set()).add(resource.name)
        return resource

    def upsert_stakednode(self, body: Mapping[str, Any]) -> StakedNodeResource | None:
        if self._fresh(body) is None:
            return None
        try:
            resource = StakedNodeResource.from_body(body)
        except MalformedResource as error:
            log.warning("ignoring %s", error)
            return None
        old = self.stakednodes.get(resource.name)
        if old is not None:
            _unlink(self._by_node, old.node_name, old.name)
            _unlink(self._by_record, old.stake_record, old.name)
        self.stakednodes[resource.name] = resource
        self._by_node.setdefault(resource.node_name, set()).add(resource.name)
        self._by_record.setdefault(resource.stake_record, set()).add(resource.name)
        return resource

    def delete(self, kind: Kind, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        name, uid = meta.get("name"), meta.get("uid")
        if isinstance(uid, str):
            self._deleted[uid] = time.monotonic()
            self._versions.pop(uid, None)
        if kind is Kind.SEALTOKEN:
            held = self.sealtokens.get(str(name))
            if held is not None and held.uid == uid:
                del self.sealtokens[held.name]
                _unlink(self._by_token, held.token_object, held.name)
        else:
            node = self.stakednodes.get(str(name))
            if node is not None and node.uid == uid:
                del self.stakednodes[node.name]
                _unlink(self._by_node, node.node_name, node.name)
                _unlink(self._by_record, node.stake_record, node.name)

    def forget_deletions(self, older_than_s: float = DELETED_MEMORY_S) -> None:
        """Drop the uids deleted more than ``older_than_s`` ago: no listing that old is still in flight."""
        horizon = time.monotonic() - older_than_s
        for uid in [u for u, at in self._deleted.items() if at < horizon]:
            del self._deleted[uid]

    def sealtokens_naming(self, token_id: str) -> set[str]:
        return set(self._by_token.get(token_id, ()))

    def stakednodes_for_node(self, node_name: str) -> set[str]:
        return set(self._by_node.get(node_name, ()))

    def stakednodes_for_record(self, record_id: str) -> set[str]:
        return set(self._by_record.get(record_id, ()))

    def keys(self) -> list[Key]:
        return [Key(Kind.SEALTOKEN, n) for n in self.sealtokens] + [Key(Kind.STAKEDNODE, n) for n in self.stakednodes]

    def phase_counts(self) -> dict[tuple[str, str], int]:
        # Counter over generators: this runs every second over every object.
        tokens = Counter(t.phase for t in self.sealtokens.values())
        nodes = Counter(n.phase for n in self.stakednodes.values())
        counts = {(str(Kind.SEALTOKEN), phase): count for phase, count in tokens.items()}
        counts.update({(str(Kind.STAKEDNODE), phase): count for phase, count in nodes.items()})
        return counts
