"""Names shared with the webhook through the API server (docs/cluster-objects.md): the contract."""

from __future__ import annotations

from typing import Final

GROUP: Final = "k3s-daas.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
SEALTOKENS: Final = "sealtokens"
STAKEDNODES: Final = "stakednodes"

LABEL_SEALTOKEN: Final = "k3s-daas.io/sealtoken"
LABEL_GRANTS: Final = "k3s-daas.io/grants"
"""On a shared ClusterRole: the digest of its rules (the end of its name)."""
LABEL_STAKED_NODE: Final = "k3s-daas.io/staked-node"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGER: Final = "k3s-daas-operator"

RBAC_PREFIX: Final = "k3s-daas:sealtoken:"
GRANTS_PREFIX: Final = "k3s-daas:grants:"
BOOTSTRAP_NAMESPACE: Final = "kube-system"
"""The API server's bootstrap-token authenticator reads only this namespace."""
BOOTSTRAP_GROUP: Final = "system:bootstrappers:k3s:default-node-token"
EVICTED_TAINT_KEY: Final = "k3s-daas.io/stake-revoked"
CURSOR_CONFIGMAP: Final = "k3s-daas-operator-cursor"
EVENTS_NAMESPACE: Final = "default"
"""Where Events about cluster-scoped objects go, as the kubelet does for Nodes."""


def user_name(owner: str) -> str:
    """The Kubernetes username of a Sui address (the webhook answers TokenReviews with it)."""
    return f"sui:{owner}"


def rbac_name(sealtoken: str) -> str:
    """The ClusterRoleBinding of a SealToken."""
    return RBAC_PREFIX + sealtoken


def sealtoken_of_binding(binding: str) -> str | None:
    return binding.removeprefix(RBAC_PREFIX) if binding.startswith(RBAC_PREFIX) else None


def grants_role_name(digest: str) -> str:
    """The ClusterRole shared by every SealToken granted the rules with this digest."""
    return GRANTS_PREFIX + digest
