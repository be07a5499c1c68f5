"""Which on-chain permissions become RBAC, per role (pure).

The chain accepts any ``resource:verb`` string from anyone holding 0.5 SUI, so granting every
string verbatim would let any staker make themselves cluster-admin. A ``user`` token is granted
only permissions that cannot be turned into more privilege (no wildcard resources, subresources or
verbs, no Secrets, no RBAC, no webhooks or CRDs, no Nodes, no exec/attach/port-forward/proxy, no
service-account tokens, no writes to this project's own resources); an ``admin`` token
(10 SUI) is granted everything it lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from k3s_daas.permissions import WRITE_VERBS, Permission, parse_all
from k3s_daas.stake import Role

_ADMIN_ONLY_GROUPS: Final = frozenset(
    {
        "*",
        "rbac.authorization.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "certificates.k8s.io",
    }
)
# Core resources and subresources that read credentials or reach into a running container or node.
_ADMIN_ONLY_CORE: Final = frozenset(
    {
        "secrets",
        "nodes",
        "serviceaccounts/token",
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "pods/proxy",
        "pods/ephemeralcontainers",
        "services/proxy",
    }
)
_OWN_GROUP: Final = "k3s-daas.io"


@dataclass(frozen=True, slots=True)
class Grants:
    granted: tuple[Permission, ...]
    refused: tuple[str, ...]
    """One message per permission string not granted (invalid, or above the role)."""


def refusal(role: Role, permission: Permission) -> str | None:
    """Why ``role`` may not hold ``permission``, or None when it may."""
    if role is Role.ADMIN:
        return None
    plural, _, subresource = permission.resource.partition("/")
    if "*" in (permission.resource, permission.group, plural, subresource):
        # A wildcard resource or subresource reaches pods/exec, serviceaccounts/token and the like.
        return "wildcard resources need an admin stake"
    if "*" in permission.verbs:
        # "*" includes impersonate, escalate, bind, approve and other verbs that grant more privilege.
        return "the * verb needs an admin stake; name the verbs (or read, write)"
    if permission.group in _ADMIN_ONLY_GROUPS:
        return "RBAC, webhook, CRD and certificate resources need an admin stake"
    if permission.group == "" and (permission.resource in _ADMIN_ONLY_CORE or plural in {"secrets", "nodes"}):
        return f"{permission.resource} needs an admin stake"
    if permission.group == _OWN_GROUP and WRITE_VERBS & set(permission.verbs):
        return "writing k3s-daas.io resources needs an admin stake"
    return None


def grants_for(role: Role, texts: Iterable[str]) -> Grants:
    """The permissions a token of ``role`` holding ``texts`` is granted, in a stable order."""
    parsed, problems = parse_all(texts)
    granted: set[Permission] = set()
    refused = list(problems)
    for permission in parsed:
        reason = refusal(role, permission)
        if reason is None:
            granted.add(permission)
        else:
            refused.append(f"{_text(permission)} not granted: {reason}")
    return Grants(tuple(sorted(granted)), tuple(refused))


def _text(permission: Permission) -> str:
    resource = permission.resource if not permission.group else f"{permission.resource}.{permission.group}"
    return f"{resource}:{','.join(permission.verbs)}"
