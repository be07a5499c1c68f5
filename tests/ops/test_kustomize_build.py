"""manifests/ as a kustomize base and two overlays, built offline with kubectl's built-in kustomize:
what each build holds and the properties docs/operations.md promises (the real API server applies
them in test_kustomize_apply.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from ops_testing import (
    ALERTS,
    BASE,
    COMPONENTS,
    DASHBOARD,
    MANIFESTS,
    MONITORING,
    OVERLAYS,
    build,
    by_kind_and_name,
    with_components,
)

from k3s_daas import stack
from k3s_daas.settings import Settings
from k3s_daas_webhook.server import WebhookConfigError, check_settings

KUSTOMIZATIONS = [BASE, MONITORING, *OVERLAYS.values(), *COMPONENTS.values()]
ONCHAIN_RBAC = {
    (kind, "k3s-daas-onchain-requests") for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
}
ADMISSION_KINDS = {"ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


@pytest.fixture(scope="module")
def builds(kubectl_binary: Path) -> dict[str, list[dict[str, Any]]]:
    """Each build once: the base and the overlays, by name."""
    return {"base": build(kubectl_binary, BASE)} | {
        name: build(kubectl_binary, path) for name, path in OVERLAYS.items()
    }


def kustomization(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return loaded


def deployment(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return by_kind_and_name(objects)[("Deployment", name)]


def container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (only,) = deployment(objects, name)["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda d: str(d.relative_to(MANIFESTS)))
def test_every_kustomization_refers_only_to_local_files(directory: Path) -> None:
    """Offline builds: no remote bases, every reference a path inside manifests/."""
    document = kustomization(directory)
    references = [*document.get("resources", []), *document.get("components", [])]
    for generator in document.get("configMapGenerator", []):
        references += [entry.split("=", 1)[-1] for entry in generator.get("files", [])]
    for reference in references:
        assert "://" not in reference and "?ref=" not in reference, reference
        target = (directory / reference).resolve()
        assert target.exists() and target.is_relative_to(MANIFESTS), reference


def test_the_base_lists_every_manifest_beside_it() -> None:
    listed = set(kustomization(BASE)["resources"])
    present = {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_an_overlay_builds_the_whole_installation_but_admission(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    objects = builds[overlay]
    base = builds["base"]
    named = by_kind_and_name(objects)
    assert set(by_kind_and_name(base)) <= set(named)
    assert ("Deployment", "k3s-daas-webhook") in named and ("Deployment", "k3s-daas-operator") in named
    assert not ADMISSION_KINDS & {item["kind"] for item in objects}  # after /readyz: manifests/40-, 41-
    for item in objects:
        assert item["metadata"]["labels"]["app.kubernetes.io/part-of"] == "k3s-daas", item["metadata"]["name"]
    # The monitoring ConfigMaps carry the files themselves: one source for promtool, Grafana and Prometheus.
    assert named[("ConfigMap", "k3s-daas-grafana-dashboard")]["data"] == {"k3s-daas.json": DASHBOARD.read_text()}
    assert named[("ConfigMap", "k3s-daas-prometheus-rules")]["data"] == {"k3s-daas.rules.yaml": ALERTS.read_text()}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_both_components_read_the_generated_settings_and_run_as_their_service_accounts(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    objects = builds[overlay]
    (settings,) = [item for item in objects if item["metadata"]["name"].startswith("k3s-daas-settings-")]
    for name, account in (("k3s-daas-operator", "k3s-daas-operator"), ("k3s-daas-webhook", "k3s-daas-webhook")):
        pod = deployment(objects, name)["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == account
        assert container(objects, name)["envFrom"] == [{"configMapRef": {"name": settings["metadata"]["name"]}}]
        assert pod["securityContext"]["runAsNonRoot"] is True
    assert container(objects, "k3s-daas-webhook")["image"] == container(objects, "k3s-daas-operator")["image"]
    assert deployment(objects, "k3s-daas-webhook")["spec"]["replicas"] == 1  # in-memory /join replay cache
    webhook = container(objects, "k3s-daas-webhook")
    assert "--cert-file=/etc/k3s-daas/webhook-tls/tls.crt" in webhook["args"]
    assert {"name": "tls", "mountPath": "/etc/k3s-daas/webhook-tls", "readOnly": True} in webhook["volumeMounts"]


def test_the_in_cluster_webhook_is_a_service_on_the_pod_network(builds: dict[str, list[dict[str, Any]]]) -> None:
    objects = builds["in-cluster"]
    pod = deployment(objects, "k3s-daas-webhook")["spec"]["template"]
    service = by_kind_and_name(objects)[("Service", "k3s-daas-webhook")]
    assert not pod["spec"].get("hostNetwork")
    assert "--host=0.0.0.0" in container(objects, "k3s-daas-webhook")["args"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https"}]


def test_the_k3s_host_webhook_listens_on_the_servers_loopback(builds: dict[str, list[dict[str, Any]]]) -> None:
    objects = builds["k3s-host"]
    pod = deployment(objects, "k3s-daas-webhook")["spec"]["template"]["spec"]
    webhook = container(objects, "k3s-daas-webhook")
    assert pod["hostNetwork"] is True and pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": "true"}
    assert "--host=127.0.0.1" in webhook["args"] and "--cluster-ca-file=/etc/k3s-daas/server-ca.crt" in webhook["args"]
    assert {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"} in webhook["env"]
    assert webhook["readinessProbe"]["httpGet"]["host"] == "127.0.0.1"
    assert ("Service", "k3s-daas-webhook") not in by_kind_and_name(objects)
    assert deployment(objects, "k3s-daas-webhook")["spec"]["strategy"] == {"type": "Recreate"}  # a host port


def test_an_unconfigured_installation_refuses_to_serve(builds: dict[str, list[dict[str, Any]]]) -> None:
    """The settings' placeholders are refused by the webhook at start: no Seal token is ever checked
    against the audience CHANGE-ME, and CHANGE-ME is no Node name for the node guard."""
    (settings,) = [item for item in builds["base"] if item["kind"] == "ConfigMap"]
    webhook = dataclasses.replace(Settings.from_env(settings["data"]).webhook, cert_file="t.crt", key_file="t.key")
    with pytest.raises(WebhookConfigError, match="cluster id 'CHANGE-ME'"):
        check_settings(webhook)
    with pytest.raises(WebhookConfigError, match="static node 'CHANGE-ME'"):
        check_settings(dataclasses.replace(webhook, cluster_id="prod-eu-1"))
    check_settings(dataclasses.replace(webhook, cluster_id="prod-eu-1", static_nodes="server-1"))


def test_up_applies_the_base_but_the_processes_it_runs_itself(builds: dict[str, list[dict[str, Any]]]) -> None:
    built = "\n---\n".join(yaml.safe_dump(item) for item in builds["base"])
    applied = stack.objects_before_processes(built)
    assert applied["kind"] == "List"
    kinds = {item["kind"] for item in applied["items"]}
    assert kinds == {
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
    }
    assert applied["items"][0]["kind"] == "Namespace"  # kustomize orders it first: created before its contents
    with pytest.raises(stack.StackError, match="without a kind"):
        stack.objects_before_processes("apiVersion: v1\nmetadata: {name: x}\n")


def settings_configmap(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (settings,) = [item for item in objects if item["metadata"]["name"].startswith("k3s-daas-settings-")]
    return settings


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_onchain_requests_component_adds_the_executors_rbac_and_turns_the_mode_on(
    kubectl_binary: Path, builds: dict[str, list[dict[str, Any]]], tmp_path: Path, overlay: str
) -> None:
    without = builds[overlay]
    objects = build(kubectl_binary, with_components(tmp_path, OVERLAYS[overlay], [COMPONENTS["onchain-requests"]]))
    named = by_kind_and_name(objects)
    before, after = settings_configmap(without), settings_configmap(objects)
    # The executor's RBAC, and the settings with the mode on (a new name: the Deployments roll).
    assert set(named) - set(by_kind_and_name(without)) == ONCHAIN_RBAC | {("ConfigMap", after["metadata"]["name"])}
    assert after["data"] == before["data"] | {"K3S_DAAS_ONCHAIN_REQUESTS": "true"}
    assert Settings.from_env(after["data"]).requests.enabled and not Settings.from_env(before["data"]).requests.enabled
    for name in ("k3s-daas-webhook", "k3s-daas-operator"):
        assert container(objects, name)["envFrom"] == [{"configMapRef": {"name": after["metadata"]["name"]}}]
    # Granted to the webhook's ServiceAccount only; never a system: group.
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        assert named[(kind, "k3s-daas-onchain-requests")]["subjects"] == [
            {"kind": "ServiceAccount", "name": "k3s-daas-webhook", "namespace": "k3s-daas"}
        ]
    rules = named[("ClusterRole", "k3s-daas-onchain-requests")]["rules"]
    (groups,) = [rule for rule in rules if rule["resources"] == ["groups"]]
    assert groups["resourceNames"] and not [name for name in groups["resourceNames"] if name.startswith("system:")]
    assert {verb for rule in rules for verb in rule["verbs"]} == {"impersonate"}
    (claims,) = named[("Role", "k3s-daas-onchain-requests")]["rules"]
    assert claims == {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "update"]}
    assert named[("Role", "k3s-daas-onchain-requests")]["metadata"]["namespace"] == "k3s-daas"
    for item in objects:
        assert item["metadata"]["labels"]["app.kubernetes.io/part-of"] == "k3s-daas", item["metadata"]["name"]


def test_up_applies_exactly_the_components_rbac() -> None:
    """`up --onchain-requests` applies the component's resources (its settings are flags there)."""
    paths = stack.component_resources(stack.ONCHAIN_REQUESTS_COMPONENT)
    assert [path.parent for path in paths] == [COMPONENTS["onchain-requests"]]
    applied = {
        (item["kind"], item["metadata"]["name"])
        for path in paths
        for item in yaml.safe_load_all(path.read_text())
        if item
    }
    assert applied == ONCHAIN_RBAC
    with pytest.raises(stack.StackError, match="component manifests/components/absent"):
        stack.component_resources("absent")
