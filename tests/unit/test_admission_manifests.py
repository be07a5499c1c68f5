"""manifests/40- and 41-: the safety properties docs/admission.md promises, checked offline, and the
render function that fills in the webhook's URL and CA (the real API server applies them in
tests/webhook/test_admission_cluster.py)."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
import yaml

from k3s_daas.cli import main
from k3s_daas.controlplane.webhook_wiring import (
    AdmissionManifestError,
    load_yaml_documents,
    render_admission_webhooks,
)
from k3s_daas.settings import WebhookSettings
from k3s_daas_webhook.server import WebhookConfigError, check_settings

REPO = Path(__file__).resolve().parents[2]
(TEMPLATE,) = load_yaml_documents(REPO / "manifests" / "40-admission-webhook.yaml")
POLICY, BINDING = load_yaml_documents(REPO / "manifests" / "41-node-guard-policy.yaml")
CA = b"-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"
WEBHOOKS = {webhook["name"]: webhook for webhook in TEMPLATE["webhooks"]}


def conditions(name: str) -> str:
    return "\n".join(condition["expression"] for condition in WEBHOOKS[name].get("matchConditions", []))


def test_every_webhook_is_small_safe_and_skips_the_break_glass_admin():
    assert set(WEBHOOKS) == {
        "stake.admission.k3s-daas.io",
        "objects.admission.k3s-daas.io",
        "nodes.admission.k3s-daas.io",
        "namespaces.admission.k3s-daas.io",
    }
    for name, webhook in WEBHOOKS.items():
        assert webhook["timeoutSeconds"] <= 3, name
        assert webhook["sideEffects"] == "None" and webhook["admissionReviewVersions"] == ["v1"], name
        assert webhook["failurePolicy"] in ("Fail", "Ignore"), name
        assert "!('system:masters' in request.userInfo.groups)" in conditions(name), name
        assert webhook["clientConfig"]["caBundle"] == "CHANGE-ME", name  # refused by the API server until rendered


def test_failure_policies_are_the_documented_ones():
    policies = {name: webhook["failurePolicy"] for name, webhook in WEBHOOKS.items()}
    assert policies == {
        "stake.admission.k3s-daas.io": "Fail",
        "objects.admission.k3s-daas.io": "Fail",
        "nodes.admission.k3s-daas.io": "Ignore",
        "namespaces.admission.k3s-daas.io": "Ignore",
    }
    assert POLICY["spec"]["failurePolicy"] == "Fail" and BINDING["spec"]["validationActions"] == ["Deny"]
    # The names are compiled into the policy, never read from a built-in paramKind (k8s#130887).
    assert "paramKind" not in POLICY["spec"] and "paramRef" not in BINDING["spec"]
    assert POLICY["spec"]["variables"] == [{"name": "admitted", "expression": "[]"}]  # refuses all until written
    assert WebhookSettings().node_guard_policy == POLICY["metadata"]["name"] == BINDING["spec"]["policyName"]


def test_system_users_are_skipped_except_node_identities_and_the_project_namespace_is_skipped():
    assert "startsWith('sui:')" in conditions("stake.admission.k3s-daas.io")
    assert "request.namespace != 'k3s-daas'" in conditions("stake.admission.k3s-daas.io")
    assert "!request.userInfo.username.startsWith('system:')" in conditions("namespaces.admission.k3s-daas.io")
    assert "request.namespace != 'k3s-daas'" in conditions("namespaces.admission.k3s-daas.io")
    assert "system:serviceaccount:k3s-daas:k3s-daas-operator" in conditions("objects.admission.k3s-daas.io")
    nodes = conditions("nodes.admission.k3s-daas.io")
    assert "startsWith('system:node:')" in nodes and "'system:bootstrappers'" in nodes
    assert nodes.split("\n")[0] in "\n".join(c["expression"] for c in POLICY["spec"]["matchConditions"])


def test_render_fills_url_and_ca_and_leaves_the_template_alone():
    rendered = render_admission_webhooks(TEMPLATE, "https://127.0.0.1:9443/", CA)
    for webhook in rendered["webhooks"]:
        assert webhook["clientConfig"] == {
            "url": "https://127.0.0.1:9443/validate",
            "caBundle": base64.b64encode(CA).decode(),
        }
    assert TEMPLATE["webhooks"][0]["clientConfig"]["caBundle"] == "CHANGE-ME"
    assert {w["name"]: w["failurePolicy"] for w in rendered["webhooks"]}["nodes.admission.k3s-daas.io"] == "Ignore"


def test_render_without_the_policy_makes_the_node_guard_fail_closed_and_substitutes_names():
    rendered = render_admission_webhooks(
        TEMPLATE,
        "https://10.0.0.1:9443",
        CA,
        node_guard="webhook",
        operator_username="system:serviceaccount:ops:op",
        project_namespace="ops",
    )
    webhooks = {webhook["name"]: webhook for webhook in rendered["webhooks"]}
    assert webhooks["nodes.admission.k3s-daas.io"]["failurePolicy"] == "Fail"
    text = "\n".join(c["expression"] for w in rendered["webhooks"] for c in w.get("matchConditions", []))
    assert "'system:serviceaccount:ops:op'" in text and "request.namespace != 'ops'" in text
    assert "'k3s-daas'" not in text and "k3s-daas:role:admin" in text


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"url": "http://127.0.0.1:9443"}, "https://host:port"),
        ({"url": "https://127.0.0.1:9443/validate"}, "https://host:port"),
        ({"node_guard": "maybe"}, "node guard"),
        ({"template": {"kind": "ConfigMap"}}, "ValidatingWebhookConfiguration"),
    ],
)
def test_render_refuses_what_it_cannot_render(change, fragment):
    arguments = {"template": TEMPLATE, "url": "https://127.0.0.1:9443", "node_guard": "policy", **change}
    with pytest.raises(AdmissionManifestError, match=fragment):
        render_admission_webhooks(arguments["template"], arguments["url"], CA, node_guard=arguments["node_guard"])


def test_admission_config_command_prints_the_rendered_configuration(tmp_path, capsys):
    ca = tmp_path / "ca.crt"
    ca.write_bytes(CA)
    assert main(["webhook", "admission-config", "--ca-file", str(ca), "--url", "https://192.0.2.1:9443"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["webhooks"][0]["clientConfig"]["url"] == "https://192.0.2.1:9443/validate"
    assert main(["webhook", "admission-config", "--ca-file", str(tmp_path / "missing.crt")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"project_namespace": "Not_A_Namespace"}, "project namespace"),
        ({"static_nodes": "ok-node,Bad_Node"}, "static node 'Bad_Node'"),
        ({"node_guard_policy": "k3s-daas/node-guard"}, "node guard policy"),
        ({"operator_username": ""}, "operator"),
    ],
)
def test_bad_admission_settings_are_named(changes, fragment):
    base = WebhookSettings(cluster_id="c", cert_file="c.crt", key_file="c.key")
    with pytest.raises(WebhookConfigError, match=fragment):
        check_settings(dataclasses.replace(base, **changes))
