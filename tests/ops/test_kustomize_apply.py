"""The overlays applied for real (server-side apply, `kubectl apply --server-side -k`) to the test
control plane, which has no scheduler and no kubelet. What "ready" can mean there, and is checked:
the CRDs Established; every object of the build stored; the Deployments taken up by the controller
manager (a ReplicaSet and its pods created, Pending: nothing schedules them); the in-cluster
Service given a ClusterIP and an EndpointSlice. Then a second application is a no-op
(`kubectl diff --server-side` finds nothing) and a server-side dry run of it passes. Admission
(manifests/40-, rendered, and 41-) is checked with a server-side dry run only: applied, its
failurePolicy Fail rules would refuse Seal users' writes for later tests.

The namespace, CRDs and RBAC are the same objects the other cluster tests apply and stay; the
workloads, the Service and the ConfigMaps, which only this test creates, are deleted afterwards."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from ops_testing import APISERVER_METRICS, COMPONENTS, MANIFESTS, OVERLAYS, by_kind_and_name, with_components

from k3s_daas.controlplane.cluster import RunningCluster
from k3s_daas.controlplane.webhook_wiring import WebhookEndpoint, load_yaml_documents, render_admission_webhooks

pytestmark = pytest.mark.cluster
T = TypeVar("T")
# What this test alone creates (the rest is shared with the other cluster tests).
OWN_KINDS = ("Deployment", "Service", "ConfigMap")


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def get_json(kubectl: Any, *args: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return loaded


@pytest.fixture
def applied(kubectl: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """The overlay server-side applied; its objects as built."""
    overlay = OVERLAYS[request.param]
    objects = [item for item in yaml.safe_load_all(kubectl("kustomize", str(overlay)).stdout) if item]
    try:
        kubectl("apply", "--server-side", "-k", str(overlay))
        yield overlay, objects
    finally:
        for item in objects:
            if item["kind"] in OWN_KINDS:
                name, namespace = item["metadata"]["name"], item["metadata"]["namespace"]
                # Foreground: the ReplicaSets and pods go first, so the next overlay starts clean.
                kubectl(
                    "delete", item["kind"].lower(), name, "-n", namespace, "--ignore-not-found", "--cascade=foreground"
                )


@pytest.mark.parametrize("applied", sorted(OVERLAYS), indirect=True)
def test_an_overlay_applies_server_side_and_is_ready_where_it_can_be(
    kubectl: Any, applied: tuple[Path, list[dict[str, Any]]]
) -> None:
    overlay, objects = applied
    for crd in ("sealtokens.k3s-daas.io", "stakednodes.k3s-daas.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    stored = by_kind_and_name(get_json(kubectl, "-k", str(overlay))["items"])
    assert set(stored) == set(by_kind_and_name(objects))
    assert all(item["metadata"]["uid"] for item in stored.values())

    for item in objects:
        if item["kind"] != "Deployment":
            continue
        name, replicas = item["metadata"]["name"], item["spec"]["replicas"]
        selector = ",".join(f"{k}={v}" for k, v in item["spec"]["selector"]["matchLabels"].items())

        def created(name: str = name, replicas: int = replicas) -> dict[str, Any] | None:
            status: dict[str, Any] = get_json(kubectl, "deployment", name, "-n", "k3s-daas").get("status", {})
            return status if status.get("replicas") == replicas else None

        status = wait_for(f"the controller manager to create the pods of {name}", created)
        assert status["observedGeneration"] >= 1
        pods = get_json(kubectl, "pods", "-n", "k3s-daas", "-l", selector)["items"]
        assert len(pods) == replicas
        assert all(pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName") for pod in pods)
        (replica_set,) = get_json(kubectl, "replicasets", "-n", "k3s-daas", "-l", selector)["items"]
        assert replica_set["metadata"]["ownerReferences"][0]["name"] == name

    if ("Service", "k3s-daas-webhook") in stored:
        assert stored[("Service", "k3s-daas-webhook")]["spec"]["clusterIP"]
        wait_for(
            "the EndpointSlice of the webhook Service",
            lambda: get_json(
                kubectl, "endpointslices", "-n", "k3s-daas", "-l", "kubernetes.io/service-name=k3s-daas-webhook"
            )["items"],
        )

    # Applying again changes nothing, and the API server accepts it (server-side dry run).
    diff = kubectl("diff", "--server-side", "-k", str(overlay), check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    dry_run = kubectl("apply", "--server-side", "--dry-run=server", "-k", str(overlay))
    lines = dry_run.stdout.strip().splitlines()
    assert len(lines) == len(objects) and all(line.endswith("serverside-applied (server dry run)") for line in lines)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_an_overlay_with_the_onchain_requests_component_passes_a_server_side_dry_run(
    kubectl: Any, tmp_path: Path, overlay: str
) -> None:
    """The opt-in component on top of an overlay, as docs/onchain-requests.md has users include it."""
    directory = with_components(tmp_path, OVERLAYS[overlay], [COMPONENTS["onchain-requests"]])
    objects = [item for item in yaml.safe_load_all(kubectl("kustomize", str(directory)).stdout) if item]
    dry_run = kubectl("apply", "--server-side", "--dry-run=server", "-k", str(directory))
    lines = dry_run.stdout.strip().splitlines()
    assert len(lines) == len(objects) and all(line.endswith("serverside-applied (server dry run)") for line in lines)
    for kind in ("clusterrole", "clusterrolebinding", "role", "rolebinding"):
        assert (
            f"{kind}.rbac.authorization.k8s.io/k3s-daas-onchain-requests serverside-applied (server dry run)" in lines
        )


def test_admission_passes_a_server_side_dry_run(kubectl: Any, webhook_endpoint: WebhookEndpoint) -> None:
    (template,) = load_yaml_documents(MANIFESTS / "40-admission-webhook.yaml")
    rendered = render_admission_webhooks(template, webhook_endpoint.url, webhook_endpoint.ca_file.read_bytes())
    result = kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(rendered))
    assert "validatingwebhookconfiguration.admissionregistration.k8s.io/k3s-daas serverside-applied" in result.stdout
    policy = kubectl("apply", "--server-side", "--dry-run=server", "-f", str(MANIFESTS / "41-node-guard-policy.yaml"))
    assert policy.stdout.count("serverside-applied (server dry run)") == 2


def test_the_api_server_exposes_the_authentication_metrics_the_rules_use(
    kubectl: Any, control_plane: RunningCluster
) -> None:
    """A bearer token no other authenticator knows goes to the token webhook (through the token
    cache); then the API server's /metrics has the families the dashboard and the alerts read."""
    context = ssl.create_default_context(cafile=str(control_plane.ca_file))
    unknown = urllib.request.Request(f"{control_plane.server}/version", headers={"Authorization": "Bearer not-a-token"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unknown, context=context, timeout=30)
    assert refused.value.code == 401
    exposition = kubectl("get", "--raw", "/metrics").stdout
    # Sample names as the API server writes them (prometheus_client's parser would add _total to
    # authentication_attempts, which Prometheus stores without it).
    samples = {line.split("{", 1)[0].split(" ", 1)[0] for line in exposition.splitlines() if line[:1] not in "#"}
    assert sorted(APISERVER_METRICS - samples) == []
