"""Bring the in-cluster parts up the way an installation does: manifests, identities, processes.

Used by `k3s-daas up`. The webhook and the operator run as their ServiceAccounts (tokens from the
TokenRequest API), so they have exactly the RBAC of manifests/, as in a real installation.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from k3s_daas.controlplane.cluster import RunningCluster
from k3s_daas.controlplane.kubeconfig import token_kubeconfig, write_kubeconfig
from k3s_daas.controlplane.processes import ManagedProcess, free_loopback_port, spawn, wait_until_ready
from k3s_daas.controlplane.webhook_wiring import (
    ADMISSION_MANIFEST,
    WebhookEndpoint,
    load_yaml_documents,
    render_admission_webhooks,
)
from k3s_daas.errors import UserError

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
PROJECT_NAMESPACE = "k3s-daas"
# Applied before the webhook and operator start; 40- and 41- need the running webhook.
BASE_MANIFESTS = (
    "00-namespace.yaml",
    "01-crd-sealtokens.yaml",
    "01-crd-stakednodes.yaml",
    "10-operator-rbac.yaml",
    "30-webhook-rbac.yaml",
    "35-stakers-rbac.yaml",
)
NODE_GUARD_MANIFEST = "41-node-guard-policy.yaml"
IDENTITY_LIFETIME = "24h"  # a development session; an installation uses projected tokens
START_TIMEOUT_S = 60.0


class StackError(UserError):
    """A step of bringing the stack up failed; the message names the step."""


@dataclass(frozen=True)
class Kubectl:
    """kubectl built with the API server, as the cluster admin."""

    binary: Path
    kubeconfig: Path

    def __call__(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"kubectl {' '.join(args[:3])} failed: {result.stderr.strip()}")
        return result.stdout


def manifests_dir() -> Path:
    if not (MANIFESTS / ADMISSION_MANIFEST).exists():
        raise StackError(f"manifests not found at {MANIFESTS}: run from a source checkout of k3s-daas")
    return MANIFESTS


def install_base(kubectl: Kubectl) -> None:
    """Namespace, CRDs and RBAC, server-side applied (idempotent across restarts of `up`)."""
    directory = manifests_dir()
    for name in BASE_MANIFESTS:
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(directory / name))
    for crd in ("sealtokens.k3s-daas.io", "stakednodes.k3s-daas.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


def service_account_kubeconfig(kubectl: Kubectl, cluster: RunningCluster, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as ServiceAccount ``k3s-daas/<account>`` with a bound token."""
    token = kubectl("create", "token", account, "-n", PROJECT_NAMESPACE, f"--duration={IDENTITY_LIFETIME}").strip()
    write_kubeconfig(path, token_kubeconfig(cluster.server, cluster.ca_file.read_bytes(), token, account))
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "k3s_daas.cli", *args]


def start_webhook(
    endpoint: WebhookEndpoint, cluster: RunningCluster, kubeconfig: Path, cluster_id: str, log: Path, marker: str
) -> ManagedProcess:
    argv = _cli(
        "webhook",
        "serve",
        "--host=127.0.0.1",
        f"--port={endpoint.port}",
        f"--cert-file={endpoint.cert_file}",
        f"--key-file={endpoint.key_file}",
        f"--cluster-id={cluster_id}",
        f"--kubeconfig={kubeconfig}",
        f"--cluster-ca-file={cluster.ca_file}",
        f"--agent-server-url={cluster.server}",
    )
    process = spawn("webhook", argv, log, marker, tie_to_parent=True)
    context = ssl.create_default_context(cafile=str(endpoint.ca_file))
    wait_until_ready(process, f"{endpoint.url}/readyz", context, log, time.monotonic() + START_TIMEOUT_S)
    return process


def install_admission(kubectl: Kubectl, endpoint: WebhookEndpoint) -> None:
    """The ValidatingWebhookConfiguration rendered for this webhook, and the node-guard policy."""
    directory = manifests_dir()
    (template,) = load_yaml_documents(directory / ADMISSION_MANIFEST)
    rendered = render_admission_webhooks(template, endpoint.url, endpoint.ca_file.read_bytes())
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(rendered))
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(directory / NODE_GUARD_MANIFEST))


def start_operator(
    kubeconfig: Path, chain_url: str, package_id: str, log: Path, marker: str
) -> tuple[ManagedProcess, int]:
    metrics_port = free_loopback_port()
    argv = _cli("operator", f"--kubeconfig={kubeconfig}", f"--metrics-port={metrics_port}", "--create-from-events")
    environment = {
        **os.environ,
        "K3S_DAAS_CHAIN_URL": chain_url,
        "K3S_DAAS_PACKAGE_ID": package_id,
        "K3S_DAAS_OPERATOR_NAMESPACE": PROJECT_NAMESPACE,
        "K3S_DAAS_METRICS_HOST": "127.0.0.1",
    }
    process = spawn("operator", argv, log, marker, tie_to_parent=True, environment=environment)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    wait_until_ready(process, url, None, log, time.monotonic() + START_TIMEOUT_S)
    return process, metrics_port
