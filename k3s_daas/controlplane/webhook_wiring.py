"""How the API server reaches our webhook server: the same flags a k3s server is given.

The webhook serves TLS with its own certificate; the API server trusts it through the CA in the
authenticator's kubeconfig (for TokenReview) and in the ValidatingWebhookConfiguration's caBundle
(for AdmissionReview). Both point at one loopback URL, as on a k3s server node running the webhook
on its host network.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from k3s_daas.controlplane import pki
from k3s_daas.controlplane.kubeconfig import write_kubeconfig, write_private

DEFAULT_CACHE_TTL = "30s"


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where the webhook listens and the files that let the API server trust it."""

    url: str
    """https://127.0.0.1:<port>"""
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    authenticator_kubeconfig: Path
    """The file given to --authentication-token-webhook-config-file."""


def authenticator_kubeconfig(url: str, ca_pem: bytes) -> dict[str, Any]:
    """The kubeconfig-format file kube-apiserver reads to call a token-webhook authenticator."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "k3s-daas-authn",
                "cluster": {
                    "server": f"{url}/authenticate",
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": "kube-apiserver", "user": {}}],
        "contexts": [{"name": "webhook", "context": {"cluster": "k3s-daas-authn", "user": "kube-apiserver"}}],
        "current-context": "webhook",
    }


def apiserver_webhook_args(endpoint: WebhookEndpoint, cache_ttl: str = DEFAULT_CACHE_TTL) -> tuple[str, ...]:
    """The kube-apiserver flags (k3s: `kube-apiserver-arg` entries) that enable the authenticator."""
    return (
        f"--authentication-token-webhook-config-file={endpoint.authenticator_kubeconfig}",
        "--authentication-token-webhook-version=v1",
        f"--authentication-token-webhook-cache-ttl={cache_ttl}",
    )


def prepare_webhook_endpoint(directory: Path, port: int) -> WebhookEndpoint:
    """Create (once) the webhook's CA and serving certificate and the authenticator kubeconfig."""
    ca_file, cert_file, key_file = directory / "ca.crt", directory / "tls.crt", directory / "tls.key"
    url = f"https://127.0.0.1:{port}"
    if not ca_file.exists():
        ca = pki.new_ca("k3s-daas-webhook-ca")
        serving = pki.issue(
            ca,
            "k3s-daas-webhook",
            server=True,
            dns_names=("localhost", "k3s-daas-webhook.k3s-daas.svc"),
            ip_addresses=(ipaddress.IPv4Address("127.0.0.1"),),
        )
        write_private(ca_file, ca.cert_pem)
        write_private(directory / "ca.key", ca.key_pem)
        write_private(cert_file, serving.cert_pem)
        write_private(key_file, serving.key_pem)
    kubeconfig = directory / "authenticator.kubeconfig"
    write_kubeconfig(kubeconfig, authenticator_kubeconfig(url, ca_file.read_bytes()))
    return WebhookEndpoint(url, port, ca_file, cert_file, key_file, kubeconfig)


# ---- admission: manifests/40-admission-webhook.yaml, rendered for one webhook server ----------------

ADMISSION_MANIFEST = "40-admission-webhook.yaml"
DEFAULT_OPERATOR_USERNAME = "system:serviceaccount:k3s-daas:k3s-daas-operator"
DEFAULT_PROJECT_NAMESPACE = "k3s-daas"
NODE_GUARD_WEBHOOK = "nodes.admission.k3s-daas.io"


class AdmissionManifestError(ValueError):
    """The ValidatingWebhookConfiguration template is not what this renderer expects."""


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a manifest file (blank ones skipped)."""
    documents = [document for document in yaml.safe_load_all(path.read_text()) if document]
    if not all(isinstance(document, dict) for document in documents):
        raise AdmissionManifestError(f"{path}: every document must be a mapping")
    return documents


def render_admission_webhooks(
    template: dict[str, Any],
    url: str,
    ca_pem: bytes,
    *,
    node_guard: str = "policy",
    operator_username: str = DEFAULT_OPERATOR_USERNAME,
    project_namespace: str = DEFAULT_PROJECT_NAMESPACE,
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration of ``template`` (manifests/40-admission-webhook.yaml) for the
    webhook server at ``url`` (https://host:port, without a path) trusted through ``ca_pem``.

    ``node_guard``: ``policy`` when the ValidatingAdmissionPolicy of manifests/41- is installed
    (Kubernetes >= 1.30: the Node webhook entry stays Ignore); ``webhook`` when it is not (the entry
    becomes Fail, the only fail-closed layer). A different operator username or project namespace
    than the defaults is substituted into the matchConditions. The template is not modified.
    """
    if node_guard not in ("policy", "webhook"):
        raise AdmissionManifestError(f"node guard {node_guard!r}: expected 'policy' or 'webhook'")
    if not url.startswith("https://") or url.rstrip("/").count("/") > 2:
        raise AdmissionManifestError(f"webhook URL {url!r}: expected https://host:port")
    if template.get("kind") != "ValidatingWebhookConfiguration" or not isinstance(template.get("webhooks"), list):
        raise AdmissionManifestError("the template must be a ValidatingWebhookConfiguration with webhooks")
    rendered = copy.deepcopy(template)
    bundle = base64.b64encode(ca_pem).decode()
    for webhook in rendered["webhooks"]:
        webhook["clientConfig"] = {"url": f"{url.rstrip('/')}/validate", "caBundle": bundle}
        if webhook.get("name") == NODE_GUARD_WEBHOOK and node_guard == "webhook":
            webhook["failurePolicy"] = "Fail"
        for condition in webhook.get("matchConditions") or []:
            expression = str(condition["expression"])
            expression = expression.replace(f"'{DEFAULT_OPERATOR_USERNAME}'", f"'{operator_username}'")
            condition["expression"] = expression.replace(f"'{DEFAULT_PROJECT_NAMESPACE}'", f"'{project_namespace}'")
    return rendered
