"""Replay of a join request and a join request signed by another key claiming the owner's address,
against the real webhook's /join (fake API over real HTTP).

Existing coverage: tests/webhook/test_join.py::test_replayed_request_is_refused (the same body twice)
and tests/webhook/test_webhook_cluster.py::test_join_returns_the_bootstrap_token_once (real cluster).
Added here: replays that differ in bytes but not in claims, concurrent replays, and impersonation.
"""

from __future__ import annotations

import concurrent.futures
import json
import time

from webhook_testing import call, rfc3339

from k3s_daas.sealtoken import assemble, join_claims, sign
from k3s_daas.sui.crypto import Keypair, SignatureScheme

CLUSTER = "test-cluster"
SECRET = "0123456789abcdef"


def post(webhook, body: dict | bytes):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return call(webhook.port, webhook.ca, "POST", "/join", raw=raw)


def envelope(token: str, **extra: object) -> dict:
    return {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "JoinRequest", "request": token, **extra}


def staked(api, owner: Keypair) -> None:
    secret = api.put_bootstrap_secret("node-worker-1", "abc123", SECRET, rfc3339(time.time() + 3600))
    api.put_node("node-worker-1", "worker-1", owner.address, "Active", secret)


def test_replays_in_other_envelopes_are_refused(join_webhook) -> None:
    webhook, api, _ = join_webhook
    owner = Keypair.generate(SignatureScheme.ED25519)
    staked(api, owner)
    token = sign(owner, join_claims(owner.address, CLUSTER, "worker-1", int(time.time()), 120))
    status, _, body = post(webhook, envelope(token))
    assert status == 200 and body["token"].endswith(SECRET)
    replays = [
        envelope(token, extra="field"),
        json.dumps(envelope(token), indent=2).encode(),
        json.dumps(dict(reversed(envelope(token).items()))).encode(),
    ]
    for replay in replays:
        status, _, body = post(webhook, replay)
        assert (status, body["reason"]) == (409, "replayed"), body
        assert SECRET not in json.dumps(body)


def test_concurrent_replays_get_exactly_one_token(join_webhook) -> None:
    webhook, api, _ = join_webhook
    owner = Keypair.generate(SignatureScheme.SECP256K1)
    staked(api, owner)
    token = sign(owner, join_claims(owner.address, CLUSTER, "worker-1", int(time.time()), 120))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(webhook, envelope(token)), range(16)))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] + [409] * 15, statuses


def test_a_replay_after_a_refusal_is_still_refused(join_webhook) -> None:
    """A request refused because the node was not Active yet is spent: it is not honoured later."""
    webhook, api, _ = join_webhook
    owner = Keypair.generate(SignatureScheme.ED25519)
    api.put_node("node-worker-1", "worker-1", owner.address, "Pending")
    token = sign(owner, join_claims(owner.address, CLUSTER, "worker-1", int(time.time()), 120))
    assert post(webhook, envelope(token))[2]["reason"] == "node_not_active"
    staked(api, owner)
    time.sleep(0.3)  # let the webhook's watch see the node turn Active (the join reads the list itself)
    assert post(webhook, envelope(token))[2]["reason"] == "replayed"


def test_another_key_claiming_the_owners_address_gets_nothing(join_webhook) -> None:
    webhook, api, _ = join_webhook
    owner = Keypair.generate(SignatureScheme.ED25519)
    staked(api, owner)
    for scheme in SignatureScheme:
        thief = Keypair.generate(scheme)
        claims = join_claims(owner.address, CLUSTER, "worker-1", int(time.time()), 120)
        message = sign(owner, claims).rsplit(".", 1)[0].encode()  # the owner's claims, the thief's signature
        status, _, body = post(webhook, envelope(assemble(message, thief.sign_personal_message(message))))
        assert (status, body["reason"]) == (401, "address_mismatch"), body
        assert SECRET not in json.dumps(body)
    # The owner's own request still works: the thief's attempts spent nothing of theirs.
    status, _, body = post(
        webhook, envelope(sign(owner, join_claims(owner.address, CLUSTER, "worker-1", int(time.time()), 120)))
    )
    assert status == 200 and body["token"].endswith(SECRET)
