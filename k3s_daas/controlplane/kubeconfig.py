"""Kubeconfig documents: pure builders plus one writer that keeps credentials private."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from k3s_daas.controlplane.pki import KeyAndCert


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def client_certificate_kubeconfig(
    server: str, ca_pem: bytes, credential: KeyAndCert, user: str, cluster: str = "k3s-daas"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(credential.cert_pem),
                    "client-key-data": _b64(credential.key_pem),
                },
            }
        ],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user}}],
        "current-context": f"{user}@{cluster}",
    }


def token_kubeconfig(server: str, ca_pem: bytes, token: str, user: str, cluster: str = "k3s-daas") -> dict[str, Any]:
    """A kubeconfig whose user presents a bearer token (none when ``token`` is empty)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": {"token": token} if token else {}}],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user}}],
        "current-context": f"{user}@{cluster}",
    }


def write_private(path: Path, content: bytes) -> None:
    """Write a file readable by its owner only, created that way (no window with wider permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def write_kubeconfig(path: Path, document: dict[str, Any]) -> None:
    write_private(path, yaml.safe_dump(document, sort_keys=False).encode())
