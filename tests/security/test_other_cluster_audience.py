"""A token for another cluster (audience), against the real webhook: near-miss audiences, the join
audience, and a list of audiences are all refused; the genuine audience is accepted.

Existing coverage: tests/webhook/test_authenticate.py::test_claim_denials (another cluster id),
tests/webhook/test_join.py::test_api_token_is_not_a_join_request and ::test_bad_requests_are_401
(an API token at /join, a join request for the cluster's audience).
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from webhook_testing import call, token_review

from k3s_daas.sealtoken import PREFIX, api_claims, assemble, join_claims, sign
from k3s_daas.sealtoken.wire import b64url_encode

CLUSTER = "test-cluster"


def review(webhook, token: str) -> dict:
    status, _, body = call(webhook.port, webhook.ca, "POST", "/authenticate", token_review(token))
    assert status == 200, body
    return body["status"]


@pytest.mark.parametrize(
    "audience",
    ["test-cluster2", "test-cluste", "Test-Cluster", "test-cluster ", " test-cluster", "test-cluster:join",
     "test-cluster.", "https://test-cluster"],
)  # fmt: skip
def test_token_for_another_cluster_is_refused(start_webhook, active, alice, audience) -> None:
    webhook = start_webhook(holder=active)
    claims = api_claims(alice.address, CLUSTER, int(time.time()), 300)
    status = review(webhook, sign(alice, dataclasses.replace(claims, audience=audience)))
    assert status["authenticated"] is False
    assert status["error"].startswith("k3s-daas: wrong_audience:"), status["error"]
    assert review(webhook, sign(alice, claims))["authenticated"] is True


def test_empty_audience_is_refused(start_webhook, active, alice) -> None:
    webhook = start_webhook(holder=active)
    claims = api_claims(alice.address, "", int(time.time()), 300)
    assert review(webhook, sign(alice, claims))["error"].startswith("k3s-daas: invalid_claims: missing claim 'aud'")


def test_audience_as_a_list_naming_this_cluster_is_refused(start_webhook, active, alice) -> None:
    """RFC 7519 allows `aud` as a list; a Seal token names exactly one cluster."""
    webhook = start_webhook(holder=active)
    now = int(time.time())
    payload = {"sub": alice.address, "aud": [CLUSTER, "elsewhere"], "iat": now, "exp": now + 300}
    header = b64url_encode(b'{"alg":"SuiPersonalMessage","typ":"JWT"}')
    message = f"{PREFIX}{header}.{b64url_encode(json.dumps(payload).encode())}"
    status = review(webhook, assemble(message.encode(), alice.sign_personal_message(message.encode())))
    assert status["authenticated"] is False
    assert status["error"].split(":")[1].strip() in {"wrong_audience", "invalid_claims"}, status["error"]


def test_join_request_is_never_an_api_token(start_webhook, active, alice) -> None:
    webhook = start_webhook(holder=active)
    join = sign(alice, join_claims(alice.address, CLUSTER, "worker-1", int(time.time()), 120))
    status = review(webhook, join)
    assert status["authenticated"] is False and status["error"].startswith("k3s-daas: wrong_audience:")
