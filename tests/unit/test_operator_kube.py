"""Credentials for the operator's Kubernetes client, from kubeconfig files."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from k3s_daas.errors import UserError
from k3s_daas_operator.kube import load_connection

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def kubeconfig(path: Path, user: dict[str, str]) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": "https://127.0.0.1:6443/",
                    "certificate-authority-data": base64.b64encode(CA).decode(),
                },
            }
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_token_user(tmp_path: Path) -> None:
    connection = load_connection(str(kubeconfig(tmp_path / "k", {"token": "abc.def"})))
    assert connection.server == "https://127.0.0.1:6443"
    assert connection.token == "abc.def" and connection.current_token() == "abc.def"
    assert connection.ca_file is not None and Path(connection.ca_file).read_bytes() == CA


def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot load Kubernetes credentials"):
        load_connection(str(tmp_path / "absent"))
