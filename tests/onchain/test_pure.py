"""The executor's and the client's pure decisions, without I/O."""

from __future__ import annotations

import dataclasses
import json

import pytest
from prometheus_client import CollectorRegistry

from k3s_daas.chain.enclave import RegisteredEnclave
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.onchain_requests.output import error_line, render
from k3s_daas.onchain_requests.signing import body_digest, response_message
from k3s_daas_operator.onchain_requests import claims
from k3s_daas_operator.onchain_requests.claims import Claim, SignedOutcome, Step, next_step
from k3s_daas_operator.onchain_requests.metrics import ExecutorMetrics, status_class
from k3s_daas_operator.onchain_requests.requests import (
    Call,
    ChainRequest,
    MalformedEvent,
    Refusal,
    plan,
)
from k3s_daas_operator.onchain_requests.transport import Impersonation

SENDER = "0x" + "ab" * 32


def _request(method: str, path: str, payload: str = "", request_id: int = 7) -> ChainRequest:
    return ChainRequest(request_id, SENDER, method, path, payload)


@pytest.mark.parametrize(
    ("method", "path", "payload", "call"),
    [
        ("GET", "/api/v1/namespaces", "", Call("GET", "/api/v1/namespaces", None, None)),
        ("GET", "/apis/apps/v1/namespaces/a/deployments?limit=5&labelSelector=x%3Dy", "", None),
        ("GET", "/api/v1/namespaces/a/pods/p/log?tailLines=10", "", None),
        ("GET", "/api/v1/namespaces/a/configmaps/exec", "", None),  # a ConfigMap named "exec"
        ("GET", "/api/v1/namespaces?watch=false", "", None),
        ("GET", "/api/v1/namespaces/watch", "", None),  # a namespace named "watch"
        ("GET", "/apis/apps/v1/namespaces/watch/deployments", "", None),
        (
            "DELETE",
            "/api/v1/namespaces/a/configmaps/c",
            "",
            Call("DELETE", "/api/v1/namespaces/a/configmaps/c", None, None),
        ),
        ("DELETE", "/api/v1/namespaces/a/configmaps/c", '{"propagationPolicy":"Foreground"}', None),
        (
            "POST",
            "/api/v1/namespaces/a/configmaps",
            "{}",
            Call("POST", "/api/v1/namespaces/a/configmaps", b"{}", "application/json"),
        ),
        (
            "PATCH",
            "/api/v1/nodes/n",
            '{"spec":{}}',
            Call("PATCH", "/api/v1/nodes/n", b'{"spec":{}}', "application/merge-patch+json"),
        ),
        ("PATCH", "/api/v1/nodes/n", "[]", Call("PATCH", "/api/v1/nodes/n", b"[]", "application/json-patch+json")),
    ],
)
def test_requests_that_are_executed(method: str, path: str, payload: str, call: Call | None) -> None:
    planned = plan(_request(method, path, payload))
    assert isinstance(planned, Call), planned
    if call is not None:
        assert planned == call


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "fragment"),
    [
        ("OPTIONS", "/api", "", 400, "method 'OPTIONS'"),
        ("GET", "/", "", 400, "/api and /apis only"),
        ("GET", "/version", "", 400, "/api and /apis only"),
        ("GET", "/api/v1/name spaces", "", 400, "not a Kubernetes API path"),
        ("GET", "/api/v1/namespaces#x", "", 400, "not a Kubernetes API path"),
        ("GET", "/api//v1", "", 400, "empty, '.' or '..' segments"),
        ("GET", "/apis/../api/v1/secrets", "", 400, "empty, '.' or '..' segments"),
        ("GET", "/api/v1/namespaces?watch=1", "", 400, "watch streams"),
        ("GET", "/api/v1/namespaces/a/pods/p/log?follow=true", "", 400, "follow streams"),
        ("POST", "/api/v1/namespaces/a/pods/p/exec?command=sh", "", 400, "streams or upgrades"),
        ("GET", "/apis/apps/v1/namespaces/a/deployments/d/proxy", "", 400, "streams or upgrades"),
        ("GET", "/api/v1/nodes/n/proxy", "", 400, "streams or upgrades"),
        ("GET", "/api/v1/namespaces", "x", 400, "a GET carries no payload"),
        ("POST", "/api/v1/namespaces/a/configmaps", "", 400, "not JSON"),
        ("POST", "/api/v1/namespaces/a/configmaps", "[]", 400, "a POST payload is a JSON object"),
        ("PATCH", "/api/v1/nodes/n", '"x"', 400, "merge patch"),
        ("PUT", "/api/v1/nodes/n", "{" + " " * 16_384 + "}", 413, "at most 16384"),
        # Checked as written, sent as written: an escape would be decoded after the checks.
        ("GET", "/api/%2e%2e/metrics", "", 400, "no percent-escapes"),  # yarl normalises it to /metrics
        ("GET", "/api/v1/namespaces/a/pods/p%2Fexec", "", 400, "no percent-escapes"),  # a hidden subresource
        ("GET", "/api/v1/nodes/n%2Fproxy", "", 400, "no percent-escapes"),
        ("GET", "//x/api/v1/namespaces", "", 400, "starts with '//'"),  # //x: a host to urlsplit and yarl
        ("GET", "/api/v1/watch/namespaces", "", 400, "watches (streams)"),
        ("GET", "/api/v1/watch/namespaces/a/pods", "", 400, "watches (streams)"),
        ("GET", "/apis/apps/v1/watch/namespaces/a/deployments", "", 400, "watches (streams)"),
    ],
)
def test_requests_answered_without_execution(method: str, path: str, payload: str, status: int, fragment: str) -> None:
    refusal = plan(_request(method, path, payload))
    assert isinstance(refusal, Refusal)
    assert refusal.status_code == status
    body = json.loads(refusal.body)
    assert body["kind"] == "Status" and body["code"] == status and fragment in body["message"], body["message"]


def test_events_that_are_not_requests_are_refused() -> None:
    good = {"request_id": "3", "sender": SENDER, "method": "GET", "path": "/api", "payload": ""}
    assert ChainRequest.from_event(good) == ChainRequest(3, SENDER, "GET", "/api", "")
    for bad in (
        {**good, "request_id": "x"},
        {**good, "sender": "0x1"},
        {**good, "path": 5},
        {**good, "request_id": True},
    ):
        with pytest.raises(MalformedEvent):
            ChainRequest.from_event(bad)


OUTCOME = SignedOutcome(201, "{}", b"\x01" * 32, "0x" + "cd" * 32, 5, b"\x02" * 64)


@pytest.mark.parametrize(
    ("claim", "method", "step"),
    [
        (None, "POST", Step.CLAIM),
        (Claim(7, SENDER, "other", 1_000, OUTCOME), "POST", Step.RELAY),
        (Claim(7, SENDER, "me", 1_000, OUTCOME), "GET", Step.RELAY),
        (Claim(7, SENDER, "other", 9_500, None), "POST", Step.WAIT),  # another executor, recently
        (Claim(7, SENDER, "other", 1_000, None), "GET", Step.TAKE_OVER),  # abandoned read: run again
        (Claim(7, SENDER, "other", 1_000, None), "POST", Step.INTERRUPTED),  # abandoned write: 504
        (Claim(7, SENDER, "me", 9_900, None), "GET", Step.TAKE_OVER),  # our own failed attempt
        (Claim(7, SENDER, "me", 9_900, None), "DELETE", Step.INTERRUPTED),
    ],
)
def test_what_an_executor_does_with_a_claim(claim: Claim | None, method: str, step: Step) -> None:
    assert next_step(claim, _request(method, "/api/v1/x"), "me", now_ms=10_000, stale_after_ms=5_000) is step


def test_claims_round_trip_through_their_configmap() -> None:
    request = _request("POST", "/api/v1/namespaces/a/configmaps", "{}")
    where = ("POST", "/api/v1/namespaces/a/configmaps")
    for claim in (Claim(7, SENDER, "me", 1, None, "12", *where), Claim(7, SENDER, "me", 1, OUTCOME, "13", *where)):
        document = claims.to_configmap(claims.claim_name("0x" + "ef" * 32, 7), "k3s-daas", request, claim)
        assert document["metadata"]["name"] == "k3s-daas-request-efefefefefef-7"  # type: ignore[index]
        assert claims.from_configmap(document) == claim
    with pytest.raises(claims.MalformedClaim):
        claims.from_configmap({"metadata": {}, "data": {"requestId": "x"}})


def test_bodies_too_large_or_not_text_are_replaced_by_a_status() -> None:
    assert claims.kept_body(200, b'{"a":1}') == (200, b'{"a":1}')
    status, body = claims.kept_body(200, b"x" * (claims.MAX_BODY_BYTES + 1))
    assert status == 413 and "answered 200 with more than the 524288 bytes" in json.loads(body)["message"]
    status, body = claims.kept_body(200, b"\xff\xfe")
    assert status == 502 and "not UTF-8" in json.loads(body)["message"]
    interrupted = json.loads(claims.interrupted_body(_request("POST", "/api/v1/x")))
    assert interrupted["code"] == 504 and interrupted["reason"] == "Timeout"
    assert "whether it took effect is unknown, and it is not executed again" in interrupted["message"]


def test_impersonation_headers_repeat_groups_and_encode_extra_keys() -> None:
    who = Impersonation(
        "sui:" + SENDER, ("k3s-daas:stakers", "k3s-daas:role:user"), (("k3s-daas.io/seal-token", ("0x1",)),)
    )
    headers = who.headers()
    assert headers.getall("Impersonate-Group") == ["k3s-daas:stakers", "k3s-daas:role:user"]
    assert headers["Impersonate-Extra-k3s-daas.io%2Fseal-token"] == "0x1"
    assert headers["Impersonate-User"] == "sui:" + SENDER


def test_output_is_what_kubectl_prints() -> None:
    body = b'{"kind":"ConfigMap","data":{"a":"b"}}'
    assert render(body, "json") == '{\n    "kind": "ConfigMap",\n    "data": {\n        "a": "b"\n    }\n}\n'
    assert render(body, "yaml") == "kind: ConfigMap\ndata:\n  a: b\n"
    status = b'{"kind":"Status","reason":"NotFound","message":"configmaps \\"x\\" not found","code":404}'
    assert error_line(404, status) == 'Error from server (NotFound): configmaps "x" not found'
    assert error_line(502, b"bad gateway") == "Error from server (status 502): bad gateway"


def test_the_executors_metric_labels_are_bounded_and_the_oldest_age_is_computed_at_scrape_time() -> None:
    codes = (100, 201, 304, 403, 504, 99, 600)
    assert [status_class(code) for code in codes] == ["1xx", "2xx", "3xx", "4xx", "5xx", "5xx", "5xx"]
    now = [100.0]
    registry = CollectorRegistry()
    executor_metrics = ExecutorMetrics(registry, clock=lambda: now[0])
    age = "k3s_daas_onchain_requests_oldest_pending_age_seconds"
    assert registry.get_sample_value(age) == 0
    executor_metrics.set_pending(2, 40_000)
    assert registry.get_sample_value(age) == 60 and registry.get_sample_value("k3s_daas_onchain_requests_pending") == 2
    now[0] = 130.0  # nothing changed but the time: the age keeps rising
    assert registry.get_sample_value(age) == 90
    executor_metrics.set_pending(0, 40_000)
    assert registry.get_sample_value(age) == 0
    executor_metrics.count_answer("executed", 201)
    assert registry.get_sample_value("k3s_daas_onchain_requests_answered_total", {"outcome": "executed", "code": "2xx"})
    with pytest.raises(ValueError, match="unknown outcome 'sui:0xab'"):
        executor_metrics.count_answer("sui:0xab", 200)


def _enclave(object_id: str, key: EnclaveKey) -> RegisteredEnclave:
    return RegisteredEnclave(object_id, key.public_key, 1, 0, 0, SENDER, 0)


def _signed(key: EnclaveKey, request_id: int, status: int, body: bytes, enclave_id: str) -> SignedOutcome:
    digest = body_digest(body)
    signature = key.sign(response_message(request_id, status, digest, 5)).signature
    return SignedOutcome(status, body.decode(), digest, enclave_id, 5, signature)


def test_a_claim_is_trusted_only_when_an_executor_can_have_written_it() -> None:
    key, other = EnclaveKey.generate(), EnclaveKey.generate()
    old, current = "0x" + "01" * 32, "0x" + "02" * 32
    enclaves = [_enclave(old, other), _enclave(current, key)]
    request = _request("GET", "/api/v1/namespaces")
    genuine = _signed(other, 7, 200, b'{"items":[]}', old)  # an outdated enclave's: re-signed, not refused
    base = Claim(7, SENDER, "x", 1_000, genuine, "", "GET", "/api/v1/namespaces")

    def problem(claim: Claim) -> str:
        return claims.tampering(claim, request, enclaves, now_ms=10_000, stale_after_ms=5_000)

    assert problem(base) == ""
    assert problem(dataclasses.replace(base, outcome=None)) == ""
    forged = _signed(EnclaveKey.generate(), 7, 200, b"{}", old)
    cases = {
        "another request": dataclasses.replace(base, request_id=8),
        "another sender": dataclasses.replace(base, sender="0x" + "cd" * 32),
        "another method": dataclasses.replace(base, method="DELETE"),
        "another path": dataclasses.replace(base, path="/api/v1/secrets"),
        "claimed in the future": dataclasses.replace(base, claimed_at_ms=10_000_000, outcome=None),
        "body changed": dataclasses.replace(base, outcome=dataclasses.replace(genuine, body='{"items":[1]}')),
        "status changed": dataclasses.replace(base, outcome=dataclasses.replace(genuine, status_code=201)),
        "digest and body changed": dataclasses.replace(
            base, outcome=dataclasses.replace(genuine, body="{}", body_digest=body_digest(b"{}"))
        ),
        "signed by an unregistered key": dataclasses.replace(base, outcome=forged),
        "unknown enclave": dataclasses.replace(base, outcome=dataclasses.replace(genuine, enclave_id="0x" + "09" * 32)),
        "junk signature": dataclasses.replace(
            base, outcome=dataclasses.replace(_signed(key, 7, 200, b"{}", current), signature=b"\x00" * 64)
        ),
        "short signature": dataclasses.replace(base, outcome=dataclasses.replace(genuine, signature=b"\x00")),
        "another request's signature": dataclasses.replace(base, outcome=_signed(key, 6, 200, b"{}", current)),
    }
    for what, claim in cases.items():
        assert problem(claim), what
    body = json.loads(claims.tampered_body(request, "its outcome is not signed by enclave 0x02"))
    assert body["code"] == 500 and "not written by an executor" in body["message"]
