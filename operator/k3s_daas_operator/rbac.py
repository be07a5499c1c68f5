"""The ClusterRole and ClusterRoleBinding an Active SealToken implies (pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from k3s_daas.permissions import Permission
from k3s_daas_operator import names


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    # No blockOwnerDeletion: it would need update on the owner's finalizers for nothing.
    return {"apiVersion": names.API_VERSION, "kind": kind, "name": name, "uid": uid, "controller": True}


def _metadata(sealtoken: str, uid: str) -> dict[str, Any]:
    return {
        "name": names.rbac_name(sealtoken),
        "labels": {names.LABEL_SEALTOKEN: sealtoken, names.LABEL_MANAGED_BY: names.MANAGER},
        "ownerReferences": [owner_reference("SealToken", sealtoken, uid)],
    }


def cluster_role(sealtoken: str, uid: str, grants: Iterable[Permission]) -> dict[str, Any]:
    rules = _merged_rules(grants)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _metadata(sealtoken, uid),
        "rules": rules,
    }


def cluster_role_binding(sealtoken: str, uid: str, owner: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _metadata(sealtoken, uid),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": names.rbac_name(sealtoken)},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": names.user_name(owner)}],
    }


def _merged_rules(grants: Iterable[Permission]) -> list[dict[str, list[str]]]:
    """One rule per (group, resource), verbs merged and sorted, so equal grants compare equal."""
    verbs: dict[tuple[str, str], set[str]] = {}
    for grant in grants:
        verbs.setdefault((grant.group, grant.resource), set()).update(grant.verbs)
    rules = []
    for (group, resource), merged in sorted(verbs.items()):
        rule_verbs = ["*"] if "*" in merged else sorted(merged)
        rules.append({"apiGroups": [group], "resources": [resource], "verbs": rule_verbs})
    return rules


def fingerprint(body: Mapping[str, Any]) -> bytes:
    """A digest of what the operator sets on a ClusterRole or ClusterRoleBinding (rules or subjects
    and roleRef, its labels, its owners), ignoring what the API server adds: equal digests need no
    update. The index keeps digests, not bodies (ten thousand bodies cost tens of megabytes)."""
    meta = body.get("metadata") or {}
    labels = meta.get("labels") or {}
    essence = {
        "rules": _normal(body.get("rules")),
        "subjects": _normal(body.get("subjects")),
        "roleRef": _normal(body.get("roleRef")),
        "labels": {key: labels.get(key) for key in (names.LABEL_SEALTOKEN, names.LABEL_MANAGED_BY)},
        "owners": sorted(str(o.get("uid")) for o in meta.get("ownerReferences") or []),
    }
    return hashlib.blake2b(json.dumps(essence, sort_keys=True).encode(), digest_size=16).digest()


def _normal(value: Any) -> Any:
    # The API server drops empty lists and may add defaults; compare what we set.
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _normal(v) for k, v in value.items() if v not in (None, [], {})}
    return value
