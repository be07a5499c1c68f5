"""The client side of kubectl's exec credential protocol (client.authentication.k8s.io).

kubectl runs the plugin with ``KUBERNETES_EXEC_INFO`` set to an ExecCredential naming the API
version it expects; the plugin answers with the same version, the token and when to ask again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from k3s_daas.errors import UserError

API_V1: Final = "client.authentication.k8s.io/v1"
API_V1BETA1: Final = "client.authentication.k8s.io/v1beta1"
SUPPORTED: Final = (API_V1, API_V1BETA1)

REFRESH_MARGIN_S: Final = 60
"""kubectl is told the credential expires this long before the token does, so it asks for a new one
while the old one is still accepted (clock skew, a slow request)."""


class ExecInfoError(UserError):
    """KUBERNETES_EXEC_INFO that this plugin cannot answer."""


def requested_api_version(exec_info: str | None) -> str:
    """The apiVersion to answer with: the one kubectl asks for, v1 when run by hand."""
    if not exec_info:
        return API_V1
    try:
        document: Any = json.loads(exec_info)
    except json.JSONDecodeError as error:
        raise ExecInfoError(f"KUBERNETES_EXEC_INFO is not valid JSON: {error.msg}") from None
    if not isinstance(document, dict):
        raise ExecInfoError("KUBERNETES_EXEC_INFO must be a JSON object (an ExecCredential)")
    version = document.get("apiVersion")
    if version not in SUPPORTED:
        raise ExecInfoError(
            f"KUBERNETES_EXEC_INFO asks for apiVersion {version!r}; this plugin answers {' and '.join(SUPPORTED)}"
        )
    return str(version)


def rfc3339(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exec_credential(api_version: str, token: str, token_expires_at: int) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": rfc3339(token_expires_at - REFRESH_MARGIN_S)},
    }
