"""Properties of the webhook's request parsers and the admission decision, over generated JSON.

Any body: a parsed request or the parser's BadRequest (-> 400), never another exception. Any
well-formed AdmissionReview: a verdict, and an answer that is JSON echoing the uid. Join bodies and
the Secrets /join reads: a value or a JoinRefusal with its documented status.
"""

from __future__ import annotations

import base64
import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from k3s_daas_webhook import admissionreview, tokenreview
from k3s_daas_webhook.admission import decide
from k3s_daas_webhook.admission_state import AdmissionPolicy, AdmissionState
from k3s_daas_webhook.index import IdentitySnapshot, entry_from_resource
from k3s_daas_webhook.join import JoinRefusal, _parse_request, node_from_resource, read_bootstrap_secret
from k3s_daas_webhook.namespaces import NamespaceOwners
from k3s_daas_webhook.stakednodes import NodeSnapshot

FAST = settings(max_examples=200, deadline=None, database=None)
MEDIUM = settings(max_examples=100, deadline=None, database=None)
ALICE = "0x" + "a1" * 32
NOW = 1_800_000_000.0

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
words = st.sampled_from(["", "sealtokens", "stakednodes", "nodes", "namespaces", "configmaps", "k3s-daas.io", "x"])


def with_keys(keys: list[str]) -> st.SearchStrategy[dict]:
    """Objects that mostly use the names a parser looks for, with values of any type."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), json_values | words, max_size=len(keys) + 1)


@FAST
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_is_a_tokenreview_or_a_bad_request(body: bytes) -> None:
    try:
        review = tokenreview.parse_review(body)
    except tokenreview.BadRequest:
        return
    assert review.api_version in tokenreview.SUPPORTED_VERSIONS and isinstance(review.token, str)


@FAST
@given(with_keys(["apiVersion", "kind", "spec"]), st.sampled_from(tokenreview.SUPPORTED_VERSIONS), json_values)
def test_tokenreview_fields_of_any_type(document: dict, version: str, spec: object) -> None:
    document = {**document, "apiVersion": version, "kind": "TokenReview", "spec": spec}
    try:
        tokenreview.parse_review(json.dumps(document).encode())
    except tokenreview.BadRequest as error:
        assert str(error)


STATE = AdmissionState(
    IdentitySnapshot.build(
        entry
        for entry in [
            entry_from_resource(
                {
                    "metadata": {"name": "t"},
                    "spec": {"owner": ALICE, "tokenObject": "0x" + "ab" * 32},
                    "status": {
                        "phase": "Active",
                        "role": "user",
                        "stakeMist": "600000000",
                        "expiresAt": "2030-01-01T00:00:00Z",
                        "permissions": ["configmaps:write"],
                    },
                }
            )
        ]
        if entry is not None
    ),
    NodeSnapshot.from_items(
        [{"metadata": {"name": "n"}, "spec": {"nodeName": "w", "owner": ALICE}, "status": {"phase": "Active"}}]
    ),
    NamespaceOwners({"owned": ALICE}),
)


@st.composite
def admission_reviews(draw: st.DrawFn) -> dict:
    request = {
        "uid": draw(st.text(min_size=1, max_size=40)),
        "kind": draw(st.none() | with_keys(["group", "version", "kind"])),
        "resource": {"group": draw(words), "version": "v1", "resource": draw(words)},
        "subResource": draw(st.none() | st.sampled_from(["status", "exec", "proxy"])),
        "name": draw(st.none() | words),
        "namespace": draw(st.none() | st.sampled_from(["default", "k3s-daas", "owned"])),
        "operation": draw(st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT", "PATCH"])),
        "userInfo": {
            "username": draw(st.sampled_from([f"sui:{ALICE}", "sui:0x1", "system:node:w", "bob", ""])),
            "groups": draw(st.lists(st.sampled_from(["system:masters", "system:nodes", "k3s-daas:role:admin"]))),
            "extra": draw(st.dictionaries(st.text(max_size=8), st.lists(st.text(max_size=8), max_size=2), max_size=2)),
        },
        "options": draw(st.none() | with_keys(["kind"])),
        "object": draw(st.none() | with_keys(["metadata", "spec", "status"])),
        "oldObject": draw(st.none() | with_keys(["metadata", "spec", "status"])),
    }
    if draw(st.booleans()):  # any one field of any type
        request[draw(st.sampled_from(sorted(request)))] = draw(json_values)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


@MEDIUM
@given(admission_reviews())
def test_any_admission_review_is_answered_or_a_bad_request(document: dict) -> None:
    try:
        request = admissionreview.parse_review(json.dumps(document).encode())
    except admissionreview.BadRequest as error:
        assert str(error)
        return
    verdict = decide(request, STATE, AdmissionPolicy(), NOW)
    answer = json.loads(admissionreview.answer(request.uid, verdict.allowed, verdict.message, verdict.rule.value))
    assert answer["response"]["uid"] == document["request"]["uid"]
    assert answer["response"]["allowed"] is verdict.allowed
    if not verdict.allowed:
        assert answer["response"]["status"]["code"] == 403 and verdict.message


@FAST
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_is_an_admission_review_or_a_bad_request(body: bytes) -> None:
    with contextlib.suppress(admissionreview.BadRequest):
        admissionreview.parse_review(body)


@FAST
@given(st.binary(max_size=200) | with_keys(["apiVersion", "kind", "request"]).map(lambda v: json.dumps(v).encode()))
def test_any_join_body_is_a_request_or_a_400(body: bytes) -> None:
    try:
        token = _parse_request(body)
    except JoinRefusal as refusal:
        assert (refusal.status, refusal.reason) == (400, "bad_request")
    else:
        assert isinstance(token, str) and token


secret_fields = st.text(alphabet="abcdef0123456789-:TZ", max_size=24).map(
    lambda t: base64.b64encode(t.encode()).decode()
)


@MEDIUM
@given(
    st.sampled_from(["bootstrap.kubernetes.io/token", "Opaque", ""]),
    st.dictionaries(st.sampled_from(["k3s-daas.io/staked-node", "x"]), st.sampled_from(["n", "m"])),
    st.dictionaries(st.sampled_from(["token-id", "token-secret", "expiration"]), secret_fields | json_values),
)
def test_any_secret_is_a_bootstrap_token_or_not_ready(kind: str, labels: dict, data: dict) -> None:
    # The shape the API server returns (metadata and data are objects); any content inside it.
    secret = {"type": kind, "metadata": {"name": "bootstrap-token-abcdef", "labels": labels}, "data": data}
    try:
        token_id, token_secret, _ = read_bootstrap_secret(secret, "n", NOW)
    except JoinRefusal as refusal:
        assert (refusal.status, refusal.reason) == (503, "token_not_ready")
    else:
        assert len(token_id) == 6 and len(token_secret) == 16


@FAST
@given(with_keys(["metadata", "spec", "status"]))
def test_any_stakednode_resource_is_a_record_or_ignored(resource: dict) -> None:
    record = node_from_resource(resource)
    assert record is None or isinstance(record.node_name, str)
    NodeSnapshot.from_items([resource]).active_nodes()
