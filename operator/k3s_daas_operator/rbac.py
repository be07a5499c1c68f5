"""The RBAC an Active SealToken implies (pure).

Tokens granted the same rules share one ClusterRole, named by a digest of the rules: ten thousand
tokens with a handful of distinct permission sets cost ten thousand ClusterRoleBindings and a
handful of ClusterRoles, not twenty thousand objects (a cold start writes a third less). The
binding stays per token, owned by it (garbage-collected with it) and named after it, so revoking
one token is one delete that touches nobody else. A shared role has no owner: the operator deletes
it when the last binding using it goes (rbac_sync).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from k3s_daas.permissions import Permission
from k3s_daas_operator import names

_RBAC_GROUP = "rbac.authorization.k8s.io"


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    # No blockOwnerDeletion: it would need update on the owner's finalizers for nothing.
    return {"apiVersion": names.API_VERSION, "kind": kind, "name": name, "uid": uid, "controller": True}


def cluster_role(grants: Iterable[Permission]) -> dict[str, Any]:
    """The shared ClusterRole holding ``grants``; its name is a function of its rules."""
    rules = _merged_rules(grants)
    digest = rules_digest(rules)
    return {
        "apiVersion": f"{_RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": names.grants_role_name(digest),
            "labels": {names.LABEL_GRANTS: digest, names.LABEL_MANAGED_BY: names.MANAGER},
        },
        "rules": rules,
    }


def cluster_role_binding(sealtoken: str, uid: str, owner: str, role: str) -> dict[str, Any]:
    """The SealToken's own binding of ``User sui:<owner>`` to the shared ``role``."""
    return {
        "apiVersion": f"{_RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": names.rbac_name(sealtoken),
            "labels": {names.LABEL_SEALTOKEN: sealtoken, names.LABEL_MANAGED_BY: names.MANAGER},
            "ownerReferences": [owner_reference("SealToken", sealtoken, uid)],
        },
        "roleRef": {"apiGroup": _RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": _RBAC_GROUP, "kind": "User", "name": names.user_name(owner)}],
    }


def role_ref(body: Mapping[str, Any]) -> str:
    """The ClusterRole a binding names ('' for anything else)."""
    return str((body.get("roleRef") or {}).get("name") or "")


def rules_digest(rules: list[dict[str, list[str]]]) -> str:
    # 128 bits: no two permission sets of one cluster share a name; 32 hex digits fit a label value.
    return hashlib.blake2b(json.dumps(rules, sort_keys=True).encode(), digest_size=16).hexdigest()


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


_FINGERPRINTED_LABELS = (names.LABEL_SEALTOKEN, names.LABEL_GRANTS, names.LABEL_MANAGED_BY)


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
        "labels": {key: labels.get(key) for key in _FINGERPRINTED_LABELS},
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
