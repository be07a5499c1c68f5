"""A kubeconfig whose user runs `k3s-daas token` with the chosen key: kubectl works unchanged."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from k3s_daas.credential.execcredential import API_V1
from k3s_daas.errors import UserError


def seal_kubeconfig(
    *,
    server: str,
    ca_pem: bytes,
    cluster_id: str,
    address: str,
    command: str,
    token_args: list[str],
) -> dict[str, Any]:
    """The document; ``token_args`` are the plugin's flags after ``token --cluster-id ID``."""
    user = f"sui-{address[:10]}"
    context = f"{user}@{cluster_id}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_id,
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "exec": {
                        "apiVersion": API_V1,
                        "command": command,
                        "args": ["token", "--cluster-id", cluster_id, *token_args],
                        # The plugin never prompts: a key that cannot be used is an error line.
                        "interactiveMode": "Never",
                        "provideClusterInfo": False,
                        "installHint": "k3s-daas is the K3s-DaaS command line: pip install k3s-daas",
                    }
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster_id, "user": user}}],
        "current-context": context,
    }


def read_ca(path: Path) -> bytes:
    try:
        data = path.expanduser().read_bytes()
    except OSError as error:
        raise UserError(f"cannot read the CA file {path}: {error.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UserError(f"{path} is not a PEM certificate bundle")
    return data
