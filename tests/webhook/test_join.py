"""/join over real HTTPS (fake API over real HTTP), driven by the real `k3s-daas join` client."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

import pytest
from webhook_testing import call, rfc3339

from k3s_daas.credential import joinclient
from k3s_daas.sealtoken import api_claims, join_claims, sign
from k3s_daas.sui import Keypair, SignatureScheme

CLUSTER = "test-cluster"


@pytest.fixture
def joined(start_webhook, fake_api, tmp_path, tls):
    """A webhook with /join over the fake API, and the CA bundle whose hash goes into K10 tokens."""
    ca_bundle = tmp_path / "cluster-ca.crt"
    ca_bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\nfake cluster CA\n-----END CERTIFICATE-----\n")
    webhook = start_webhook(
        watch=True,
        kubeconfig=str(fake_api.kubeconfig(tmp_path / "kubeconfig")),
        cluster_ca_file=str(ca_bundle),
        agent_server_url="https://10.0.0.1:6443",
    )
    return webhook, fake_api, hashlib.sha256(ca_bundle.read_bytes()).hexdigest()


def _post(webhook, token):
    body = {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "JoinRequest", "request": token}
    return call(webhook.port, webhook.ca, "POST", "/join", body)


def _request(key, node="worker-1", **changes):
    claims = join_claims(key.address, CLUSTER, node, int(time.time()), 120)
    return sign(key, dataclasses.replace(claims, **changes))


@pytest.mark.parametrize("scheme", list(SignatureScheme), ids=lambda s: s.label)
def test_owner_of_an_active_node_gets_its_bootstrap_token(joined, scheme):
    webhook, api, ca_hash = joined
    owner = Keypair.generate(scheme)
    secret = api.put_bootstrap_secret("node-worker-1", "abc123", "0123456789abcdef", rfc3339(time.time() + 3600))
    api.put_node("node-worker-1", "worker-1", owner.address, "Active", secret)

    result = joinclient.join(webhook.url, owner, "worker-1", ca_file=webhook.ca)
    assert result.token == f"K10{ca_hash}::abc123.0123456789abcdef"
    assert result.server == "https://10.0.0.1:6443"
    assert result.agent_command() == (
        f"k3s agent --server https://10.0.0.1:6443 --token {result.token} --node-name worker-1"
    )


def test_replayed_request_is_refused(joined):
    webhook, api, _ = joined
    owner = Keypair.generate(SignatureScheme.ED25519)
    secret = api.put_bootstrap_secret("n1", "abc123", "0123456789abcdef", rfc3339(time.time() + 3600))
    api.put_node("n1", "worker-1", owner.address, "Active", secret)
    request = _request(owner)
    assert _post(webhook, request)[0] == 200
    status, _, body = _post(webhook, request)
    assert (status, body["reason"]) == (409, "replayed")
    assert "already used" in body["message"]


@pytest.mark.parametrize(
    ("phase", "owner_is_signer", "node_name", "status", "reason"),
    [
        ("Active", False, "worker-1", 403, "foreign_node"),
        ("Draining", True, "worker-1", 403, "node_not_active"),
        ("Slashed", True, "worker-1", 403, "node_not_active"),
        ("Active", True, "worker-2", 404, "unknown_node"),
    ],
)
def test_refusals(joined, phase, owner_is_signer, node_name, status, reason):
    webhook, api, _ = joined
    signer = Keypair.generate(SignatureScheme.SECP256K1)
    owner = signer if owner_is_signer else Keypair.generate(SignatureScheme.ED25519)
    secret = api.put_bootstrap_secret("n1", "abc123", "0123456789abcdef", rfc3339(time.time() + 3600))
    api.put_node("n1", "worker-1", owner.address, phase, secret)
    got_status, _, body = _post(webhook, _request(signer, node=node_name))
    assert (got_status, body["reason"]) == (status, reason), body
    assert "0123456789abcdef" not in json.dumps(body)
    with pytest.raises(joinclient.JoinError, match=reason):
        joinclient.join(webhook.url, signer, node_name, ca_file=webhook.ca)


def test_token_not_minted_yet_is_transient(joined):
    webhook, api, _ = joined
    owner = Keypair.generate(SignatureScheme.ED25519)
    api.put_node("n1", "worker-1", owner.address, "Active")
    status, headers, body = _post(webhook, _request(owner))
    assert (status, body["reason"]) == (503, "token_not_ready") and headers["retry-after"] == "5"


def test_secret_of_another_node_is_never_handed_out(joined):
    webhook, api, _ = joined
    owner = Keypair.generate(SignatureScheme.ED25519)
    secret = api.put_bootstrap_secret("someone-else", "abc123", "0123456789abcdef", rfc3339(time.time() + 3600))
    api.put_node("n1", "worker-1", owner.address, "Active", secret)
    status, _, body = _post(webhook, _request(owner))
    assert (status, body["reason"]) == (503, "token_not_ready")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"audience": CLUSTER}, "wrong_audience"),
        ({"expires_at": int(time.time()) + 3600}, "lifetime_too_long"),
        ({"issued_at": int(time.time()) - 600, "expires_at": int(time.time()) - 500}, "expired"),
    ],
)
def test_bad_requests_are_401(joined, changes, reason):
    webhook, _, _ = joined
    owner = Keypair.generate(SignatureScheme.ED25519)
    status, _, body = _post(webhook, _request(owner, **changes))
    assert (status, body["reason"]) == (401, reason)


def test_api_token_is_not_a_join_request(joined):
    webhook, _, _ = joined
    owner = Keypair.generate(SignatureScheme.ED25519)
    status, _, body = _post(webhook, sign(owner, api_claims(owner.address, CLUSTER, int(time.time()), 120)))
    assert (status, body["reason"]) == (401, "invalid_claims")
    assert "'node'" in body["message"]


@pytest.mark.parametrize(
    "raw", [b"nope", b"[]", b'{"kind":"JoinRequest"}', b'{"apiVersion":"k3s-daas.io/v1alpha1","kind":"JoinRequest"}']
)
def test_malformed_body_is_400(joined, raw):
    webhook, _, _ = joined
    status, _, body = call(webhook.port, webhook.ca, "POST", "/join", raw=raw)
    assert (status, body["reason"]) == (400, "bad_request")


def test_join_info(joined):
    webhook, _, _ = joined
    status, _, body = call(webhook.port, webhook.ca, "GET", "/join")
    assert status == 200
    assert body["clusterId"] == CLUSTER and body["audience"] == f"{CLUSTER}:join"
    assert body["maxLifetimeSeconds"] == 300 and body["server"] == "https://10.0.0.1:6443"


def test_client_refuses_another_cluster_and_plain_http(joined):
    webhook, _, _ = joined
    owner = Keypair.generate(SignatureScheme.ED25519)
    with pytest.raises(joinclient.JoinError, match="not 'other'"):
        joinclient.join(webhook.url, owner, "worker-1", ca_file=webhook.ca, cluster_id="other")
    with pytest.raises(joinclient.JoinError, match="https"):
        joinclient.join(webhook.url.replace("https", "http"), owner, "worker-1")
    with pytest.raises(joinclient.JoinError, match="cannot reach"):
        joinclient.join(webhook.url, owner, "worker-1")  # system CAs do not trust the test CA


def test_request_for_an_invalid_node_name_is_refused(joined):
    webhook, _, _ = joined
    owner = Keypair.generate(SignatureScheme.ED25519)
    status, _, body = _post(webhook, _request(owner, node="Bad_Name"))
    assert (status, body["reason"]) == (401, "invalid_claims")
