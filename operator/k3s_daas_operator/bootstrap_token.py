"""Per-node k3s bootstrap tokens: Secrets of type ``bootstrap.kubernetes.io/token`` in kube-system.

The token's secret half is drawn from ``secrets`` and exists only in the Secret: it is never
logged, never put in an Event, a status or a metric label (only the Secret's name, which holds
the public token id, is recorded).
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime
from typing import Any, Final

from k3s_daas_operator import names
from k3s_daas_operator.rbac import owner_reference
from k3s_daas_operator.status import rfc3339

_ALPHABET: Final = string.ascii_lowercase + string.digits
SECRET_PREFIX: Final = "bootstrap-token-"  # noqa: S105 - a name prefix, not a secret
_TOKEN_ID: Final = re.compile(r"[a-z0-9]{6}")


def new_token_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(6))


def new_token_secret() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


def secret_name(token_id: str) -> str:
    return SECRET_PREFIX + token_id


def token_id_of(secret: str) -> str:
    token_id = secret.removeprefix(SECRET_PREFIX)
    if not secret.startswith(SECRET_PREFIX) or not _TOKEN_ID.fullmatch(token_id):
        raise ValueError(f"{secret!r} is not a bootstrap token Secret name")
    return token_id


def bootstrap_secret(
    token_id: str, token_secret: str, expires_at: datetime, staked_node: str, uid: str, node_name: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "bootstrap.kubernetes.io/token",
        "metadata": {
            "name": secret_name(token_id),
            "namespace": names.BOOTSTRAP_NAMESPACE,
            "labels": {names.LABEL_STAKED_NODE: staked_node, names.LABEL_MANAGED_BY: names.MANAGER},
            "ownerReferences": [owner_reference("StakedNode", staked_node, uid)],
        },
        "stringData": {
            "token-id": token_id,
            "token-secret": token_secret,
            "expiration": rfc3339(expires_at),
            "usage-bootstrap-authentication": "true",
            "auth-extra-groups": names.BOOTSTRAP_GROUP,
            "description": f"k3s-daas join token for node {node_name} (StakedNode {staked_node})",
        },
    }
