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
from typing import Any

import yaml

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
BASE_KUSTOMIZATION = "base"
PROJECT_NAMESPACE = "k3s-daas"
# The kustomize base minus these kinds is applied before the webhook and operator start: `up` runs
# both as local processes (with its own settings), so their Deployments and settings ConfigMap stay
# out. 40- and 41- need the running webhook.
KINDS_RUN_BY_UP = frozenset({"Deployment", "ConfigMap"})
NODE_GUARD_MANIFEST = "41-node-guard-policy.yaml"
COMPONENTS = "components"
ONCHAIN_REQUESTS_COMPONENT = "onchain-requests"
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
    if not (MANIFESTS / ADMISSION_MANIFEST).exists() or not (MANIFESTS / BASE_KUSTOMIZATION).is_dir():
        raise StackError(f"manifests not found at {MANIFESTS}: run from a source checkout of k3s-daas")
    return MANIFESTS


def objects_before_processes(built: str) -> dict[str, Any]:
    """The objects of the base's kustomize build that `up` applies (a v1 List): all but the kinds
    it runs itself (KINDS_RUN_BY_UP)."""
    items = [document for document in yaml.safe_load_all(built) if document]
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            raise StackError(f"the kustomize build of manifests/{BASE_KUSTOMIZATION} has a document without a kind")
    kept = [item for item in items if item["kind"] not in KINDS_RUN_BY_UP]
    return {"apiVersion": "v1", "kind": "List", "items": kept}


def install_base(kubectl: Kubectl) -> None:
    """Namespace, CRDs and RBAC from the kustomize base, server-side applied (idempotent across
    restarts of `up`)."""
    built = kubectl("kustomize", str(manifests_dir() / BASE_KUSTOMIZATION))
    objects = objects_before_processes(built)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(objects))
    for crd in ("sealtokens.k3s-daas.io", "stakednodes.k3s-daas.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


def component_resources(name: str) -> list[Path]:
    """The manifests that kustomize component ``manifests/components/<name>`` lists as resources."""
    directory = manifests_dir() / COMPONENTS / name
    try:
        document = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    except OSError as error:
        raise StackError(f"cannot read the component manifests/{COMPONENTS}/{name}: {error.strerror}") from None
    resources = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(resources, list) or not all(isinstance(item, str) for item in resources):
        raise StackError(f"manifests/{COMPONENTS}/{name}/kustomization.yaml lists no resources")
    return [directory / item for item in resources]


def install_component(kubectl: Kubectl, name: str) -> None:
    """A component's resources, server-side applied. Its settings (generators) are not: `up` gives
    the processes it runs their settings itself."""
    for path in component_resources(name):
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))


def service_account_kubeconfig(kubectl: Kubectl, cluster: RunningCluster, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as ServiceAccount ``k3s-daas/<account>`` with a bound token."""
    token = kubectl("create", "token", account, "-n", PROJECT_NAMESPACE, f"--duration={IDENTITY_LIFETIME}").strip()
    write_kubeconfig(path, token_kubeconfig(cluster.server, cluster.ca_file.read_bytes(), token, account))
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "k3s_daas.cli", *args]


@dataclass(frozen=True)
class OnchainRequests:
    """The chain the webhook's on-chain request executor follows (`webhook serve --onchain-requests`)."""

    chain_url: str
    package_id: str


def start_webhook(
    endpoint: WebhookEndpoint,
    cluster: RunningCluster,
    kubeconfig: Path,
    cluster_id: str,
    log: Path,
    marker: str,
    onchain: OnchainRequests | None = None,
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
        # One local process, no load balancer to drain: stop promptly (the default grace is for Pods).
        "--shutdown-grace=0.5",
    )
    environment = None
    if onchain is not None:
        argv.append("--onchain-requests")
        environment = {**os.environ, "K3S_DAAS_CHAIN_URL": onchain.chain_url, "K3S_DAAS_PACKAGE_ID": onchain.package_id}
    process = spawn("webhook", argv, log, marker, tie_to_parent=True, environment=environment)
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
