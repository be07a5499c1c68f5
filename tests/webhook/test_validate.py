"""/validate over real HTTPS with real AdmissionReview JSON: answers, 400s, readiness, metrics, and the
state following list + watch (fake API over real HTTP)."""

from __future__ import annotations

import http.client
import time
import uuid
from pathlib import Path

import pytest
from webhook_testing import call, client_context, sealtoken

from k3s_daas.controlplane.webhook_wiring import load_yaml_documents
from k3s_daas_webhook.admission_state import AdmissionSources
from k3s_daas_webhook.index import IdentitySnapshot, IndexHolder, entry_from_resource
from k3s_daas_webhook.namespaces import NamespaceOwners
from k3s_daas_webhook.stakednodes import NodeSnapshot

ALICE = "0x" + "a1" * 32
OBJECT = "0x" + "ab" * 32
RECORD = "0x" + "5e" * 32
REPO = Path(__file__).resolve().parents[2]


def review(
    user: str = f"sui:{ALICE}",
    operation: str = "CREATE",
    resource: str = "configmaps",
    *,
    group: str = "",
    namespace: str = "default",
    name: str = "cm",
    groups: list[str] | None = None,
    subresource: str | None = None,
) -> dict:
    request = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": "v1", "kind": "Thing"},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "requestKind": {"group": group, "version": "v1", "kind": "Thing"},
        "name": name,
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": user, "groups": groups or ["k3s-daas:stakers", "system:authenticated"]},
        "object": {"apiVersion": "v1", "kind": "Thing", "metadata": {"name": name}},
        "oldObject": None,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    if subresource:
        request["subResource"] = subresource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def active_token(stake_mist: int = 600_000_000, phase: str = "Active") -> dict:
    resource = sealtoken("alice", ALICE, OBJECT, expires_at=time.time() + 3600, stake_mist=stake_mist, phase=phase)
    resource["status"].update(permissions=["configmaps:write"], stakeRecord=RECORD)
    return resource


def sources(*tokens: dict) -> AdmissionSources:
    entries = [entry for resource in tokens if (entry := entry_from_resource(resource)) is not None]
    return AdmissionSources.preloaded(IdentitySnapshot.build(entries), NodeSnapshot(), NamespaceOwners())


def validate(webhook, body) -> dict:
    status, _, answer = call(webhook.port, webhook.ca, "POST", "/validate", body)
    assert status == 200, answer
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    return answer["response"]


def metric(webhook, name: str, **labels: str) -> float:
    text = call(webhook.port, webhook.ca, "GET", "/metrics")[2].decode()
    selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{selector}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_allowed_and_denied_answers_echo_the_uid(start_webhook):
    webhook = start_webhook(admission=sources(active_token()))
    body = review()
    answer = validate(webhook, body)
    assert answer == {"uid": body["request"]["uid"], "allowed": True, "auditAnnotations": {"rule": "permission"}}

    body = review(resource="secrets")
    answer = validate(webhook, body)
    assert answer["uid"] == body["request"]["uid"] and answer["allowed"] is False
    assert answer["status"]["code"] == 403 and answer["status"]["reason"] == "Forbidden"
    assert '"secrets:create"' in answer["status"]["message"]
    assert answer["auditAnnotations"] == {"rule": "permission"}


def test_the_stake_message_a_person_understands(start_webhook):
    webhook = start_webhook(admission=sources(active_token(stake_mist=300_000_000)))
    answer = validate(webhook, review())
    assert answer["status"]["message"] == (
        f"stake 0.3 SUI is below the 0.5 SUI required to write; top up stake record {RECORD}"
    )
    assert metric(webhook, "k3s_daas_admission_denials_total", rule="stake") == 1
    assert metric(webhook, "k3s_daas_admission_request_duration_seconds_count", decision="denied") == 1


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}', "apiVersion must be"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"TokenReview"}', "kind must be"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', "request must be an object"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}', "request.uid"),
        (
            b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","resource":{}}}',
            "request.resource.resource",
        ),
    ],
)
def test_malformed_reviews_are_a_clear_400(start_webhook, raw, fragment):
    webhook = start_webhook(admission=sources())
    status, _, body = call(webhook.port, webhook.ca, "POST", "/validate", raw=raw)
    assert status == 400 and fragment in body["error"], body
    assert metric(webhook, "k3s_daas_admission_request_duration_seconds_count", decision="bad_request") == 1


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (("userInfo",), "someone", "request.userInfo must be an object"),
        (("userInfo", "groups"), "system:masters", "groups must be a list of strings"),
        (("userInfo", "extra"), {"k": "v"}, "extra must be an object of string lists"),
        (("object",), "x", "request.object must be an object or null"),
        (("operation",), 7, "request.operation must be a string"),
    ],
)
def test_wrong_field_types_are_400s_too(start_webhook, path, value, fragment):
    webhook = start_webhook(admission=sources())
    body = review()
    target = body["request"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    status, _, answer = call(webhook.port, webhook.ca, "POST", "/validate", body)
    assert status == 400 and fragment in answer["error"], answer


def test_unknown_operations_and_kinds_get_their_documented_defaults(start_webhook):
    webhook = start_webhook(admission=sources(active_token()))
    unknown = validate(webhook, review(operation="TELEPORT"))
    assert unknown["allowed"] is False and unknown["auditAnnotations"] == {"rule": "unknown_operation"}
    # A resource no rule knows, written by someone who is not a Seal user: RBAC's business.
    other = validate(webhook, review("oidc:carol", resource="widgets", group="example.com", groups=["devs"]))
    assert other["allowed"] is True and other["auditAnnotations"] == {"rule": "not_covered"}


def test_oversized_body_is_refused_before_it_is_read(start_webhook):
    webhook = start_webhook(admission=sources())
    connection = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=client_context(webhook.ca), timeout=10)
    try:
        connection.putrequest("POST", "/validate")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(9 * 1024 * 1024))
        connection.endheaders(b"{")
        response = connection.getresponse()
        assert response.status == 413 and response.getheader("Connection") == "close"
        response.read()
    finally:
        connection.close()
    assert call(webhook.port, webhook.ca, "GET", "/healthz")[0] == 200  # and it serves on


def test_unsynced_state_is_a_503_so_the_failure_policy_decides(start_webhook):
    webhook = start_webhook(admission=AdmissionSources(IndexHolder(synced=False)))
    status, headers, body = call(webhook.port, webhook.ca, "POST", "/validate", review())
    assert status == 503 and headers["retry-after"] == "1" and "SealTokens" in body["error"]
    assert call(webhook.port, webhook.ca, "GET", "/readyz")[0] == 503


def _eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


def test_decisions_follow_the_watched_state(start_webhook, fake_api, tmp_path):
    fake_api.put_sealtoken(active_token())
    fake_api.put_namespace("default")
    (policy, _) = load_yaml_documents(REPO / "manifests" / "41-node-guard-policy.yaml")
    policy["metadata"]["resourceVersion"] = "1"
    fake_api.policies["k3s-daas-node-guard"] = policy
    webhook = start_webhook(
        watch=True,
        kubeconfig=str(fake_api.kubeconfig(tmp_path / "kubeconfig")),
        node_guard_policy="k3s-daas-node-guard",
        static_nodes="server-0",
    )
    assert _eventually(lambda: call(webhook.port, webhook.ca, "GET", "/readyz")[0] == 200)
    assert validate(webhook, review())["allowed"]

    # The operator records a slash: the very next review is denied, no restart, no cache.
    fake_api.put_sealtoken(active_token(stake_mist=300_000_000, phase="InsufficientStake"))
    assert _eventually(lambda: not validate(webhook, review())["allowed"])
    assert "0.3 SUI is below the 0.5 SUI" in validate(webhook, review())["status"]["message"]

    # Namespace ownership comes from the Namespace watch.
    fake_api.put_sealtoken(active_token())
    fake_api.put_namespace("default", "0x" + "b0" * 32)
    assert _eventually(lambda: validate(webhook, review())["auditAnnotations"] == {"rule": "namespace_owner"})

    # Nodes: a StakedNode turning Active admits the node, in the answer and in the policy's list.
    def admitted() -> str:
        return fake_api.policies["k3s-daas-node-guard"]["spec"]["variables"][0]["expression"]

    assert _eventually(lambda: admitted() == "['server-0']")
    node = review("system:node:w1", resource="nodes", namespace="", name="w1", groups=["system:nodes"])
    assert not validate(webhook, node)["allowed"]
    fake_api.put_node("sn-w1", "w1", ALICE, "Active")
    assert _eventually(lambda: validate(webhook, node)["allowed"])
    assert _eventually(lambda: admitted() == "['server-0', 'w1']")
    fake_api.put_node("sn-w1", "w1", ALICE, "Slashed")
    assert _eventually(lambda: not validate(webhook, node)["allowed"])
    assert _eventually(lambda: admitted() == "['server-0']")
    assert metric(webhook, "k3s_daas_node_guard_policy_writes_total", result="updated") == 3
    assert metric(webhook, "k3s_daas_admission_index_objects", resource="stakednodes") == 1
