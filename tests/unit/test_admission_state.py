"""Pure parts behind /validate: AdmissionReview parsing and answers, the StakedNode and Namespace
indexes, and the node list compiled into the ValidatingAdmissionPolicy."""

from __future__ import annotations

import json

import pytest

from k3s_daas.settings import WebhookSettings
from k3s_daas_webhook.admission_state import AdmissionPolicy
from k3s_daas_webhook.admissionreview import BadRequest, UserInfo, answer, parse_review
from k3s_daas_webhook.namespaces import NamespaceOwners
from k3s_daas_webhook.nodeguard import TooManyNodes, admitted_nodes, cel_list, with_admitted
from k3s_daas_webhook.stakednodes import NodeSnapshot

ALICE = "0x" + "a1" * 32


def test_review_is_parsed_into_what_the_rules_need():
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "subResource": "scale",
            "name": "web",
            "namespace": "team",
            "operation": "UPDATE",
            "userInfo": {"username": f"sui:{ALICE}", "groups": ["k3s-daas:stakers"], "extra": {"k": ["v"]}},
            "object": {"kind": "Scale"},
            "oldObject": None,
            "options": {"kind": "PatchOptions", "apiVersion": "meta.k8s.io/v1"},
            "dryRun": True,
        },
    }
    request = parse_review(json.dumps(body).encode())
    assert (request.group, request.resource, request.subresource) == ("apps", "deployments", "scale")
    assert (request.name, request.namespace, request.operation, request.kind) == ("web", "team", "UPDATE", "Deployment")
    assert request.user == UserInfo(f"sui:{ALICE}", frozenset({"k3s-daas:stakers"}), {"k": ("v",)})
    assert request.options_kind == "PatchOptions" and request.object == {"kind": "Scale"} and request.old_object is None


def test_cluster_scoped_and_minimal_reviews_parse():
    body = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"DELETE",'
    body += b'"resource":{"resource":"nodes"},"userInfo":{"username":"system:node:w1"}}}'
    request = parse_review(body)
    assert (request.group, request.namespace, request.user.groups) == ("", "", frozenset())


def test_errors_never_echo_long_input():
    with pytest.raises(BadRequest) as caught:
        parse_review(b'{"apiVersion":"' + b"x" * 1000 + b'"}')
    assert len(str(caught.value)) < 200


def test_answers():
    allowed = json.loads(answer("u1", True, "", "permission"))
    assert allowed == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u1", "allowed": True, "auditAnnotations": {"rule": "permission"}},
    }
    denied = json.loads(answer("u2", False, "why", "stake"))["response"]
    assert denied["status"] == {"code": 403, "reason": "Forbidden", "message": "why"}


def node(name: str, node_name: str, phase: str) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": node_name, "owner": ALICE, "stakeRecord": "0x" + "77" * 32},
        "status": {"phase": phase},
    }


def test_node_snapshot_follows_changes_by_copy():
    first = NodeSnapshot.from_items([node("a", "w1", "Slashed")])
    second = first.with_resource(node("b", "w1", "Active"))
    third = second.with_resource(node("b", "w1", "Draining"))
    assert not first.is_active("w1") and second.is_active("w1") and not third.is_active("w1")
    assert second.active_nodes() == {"w1": "b"} and len(third) == 2
    assert third.without("b").records_for("w1")[0].name == "a" and third.without("zz") is third
    assert second.with_resource({"metadata": {"name": "b"}, "spec": "garbled"}).records_for("w1") == first.by_node["w1"]


def test_namespace_owners_index_only_annotated_namespaces():
    owners = NamespaceOwners.from_items(
        [
            {"metadata": {"name": "a", "annotations": {"k3s-daas.io/owner": ALICE}}},
            {"metadata": {"name": "b", "labels": {"k3s-daas.io/owner": "label-is-ignored"}}},
        ]
    )
    assert owners.owner_of("a") == ALICE and owners.owner_of("b") is None and len(owners) == 1
    unchanged = owners.with_resource({"metadata": {"name": "c"}})
    assert unchanged is owners  # most Namespace events change nothing indexed
    assert owners.with_resource({"metadata": {"name": "a"}}).owner_of("a") is None
    assert owners.without("a").owner_of("a") is None


def test_the_policy_list_holds_active_and_static_nodes_only():
    nodes = NodeSnapshot.from_items(
        [node("a", "w1", "Active"), node("b", "w2", "Slashed"), node("c", "w3", "Active"), node("d", "Bad'", "Active")]
    )
    names = admitted_nodes(nodes, frozenset({"server-0"}))
    assert names == ["server-0", "w1", "w3"]  # a name that cannot be a Node never reaches CEL
    assert cel_list(names) == "['server-0', 'w1', 'w3']" and cel_list([]) == "[]"
    with pytest.raises(ValueError, match="only Node names"):
        cel_list(["x' || true || '"])
    with pytest.raises(TooManyNodes, match="100,000"):
        cel_list([f"worker-{index:06d}" for index in range(8000)])


def test_the_list_is_written_into_the_policy_variable():
    policy = {"spec": {"variables": [{"name": "admitted", "expression": "[]"}]}}
    assert with_admitted(policy, "['w1']") == {"spec": {"variables": [{"name": "admitted", "expression": "['w1']"}]}}
    assert with_admitted(policy, "['w1']") is None  # unchanged: nothing to write
    for foreign in ({"spec": {}}, {"spec": {"variables": [{"name": "other", "expression": "1"}]}}):
        with pytest.raises(ValueError, match="no"):
            with_admitted(foreign, "[]")


def test_policy_from_settings():
    policy = AdmissionPolicy.from_settings(WebhookSettings(static_nodes=" server-0, ,server-1 "))
    assert policy.static_nodes == {"server-0", "server-1"}
    assert policy.operator_username == "system:serviceaccount:k3s-daas:k3s-daas-operator"


def test_admission_settings_come_from_the_environment():
    from k3s_daas.settings import Settings

    webhook = Settings.from_env(
        {
            "K3S_DAAS_WEBHOOK_OPERATOR_USERNAME": "system:serviceaccount:ops:op",
            "K3S_DAAS_WEBHOOK_PROJECT_NAMESPACE": "ops",
            "K3S_DAAS_WEBHOOK_STATIC_NODES": "server-0",
            "K3S_DAAS_WEBHOOK_NODE_GUARD_POLICY": "",
        }
    ).webhook
    assert (webhook.operator_username, webhook.project_namespace) == ("system:serviceaccount:ops:op", "ops")
    assert (webhook.static_nodes, webhook.node_guard_policy) == ("server-0", "")
