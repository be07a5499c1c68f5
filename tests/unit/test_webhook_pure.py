"""Pure parts of the webhook: TokenReview parsing, the caches, the join rules and token format."""

import base64
import hashlib

import pytest

from k3s_daas.sealtoken import SealClaims, VerifiedToken
from k3s_daas.sui import Keypair, SignatureScheme, VerifiedSigner
from k3s_daas_webhook import tokenreview
from k3s_daas_webhook.caches import AnswerMemo, ReplayGuard, VerifiedTokenCache
from k3s_daas_webhook.join import (
    JoinRefusal,
    NodeRecord,
    choose_node,
    k3s_join_token,
    node_from_resource,
    read_bootstrap_secret,
)

ALICE, BOB = "0x" + "a1" * 32, "0x" + "b0" * 32
KEY = Keypair.from_secret(SignatureScheme.ED25519, b"\x01" * 32)


def verified(expires_at: int) -> VerifiedToken:
    claims = SealClaims(subject=KEY.address, audience="c", issued_at=expires_at - 60, expires_at=expires_at)
    return VerifiedToken(claims, VerifiedSigner(KEY.address, KEY.scheme, KEY.public_key))


# ---- TokenReview ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_review_round_trip(version):
    body = b'{"apiVersion":"authentication.k8s.io/%s","kind":"TokenReview","spec":{"token":"t"}}' % version.encode()
    request = tokenreview.parse_review(body)
    assert request == tokenreview.ReviewRequest(f"authentication.k8s.io/{version}", "t")
    assert b'"authenticated":false' in tokenreview.denied(request.api_version, "why")


def test_review_errors_never_echo_long_input():
    with pytest.raises(tokenreview.BadRequest) as caught:
        tokenreview.parse_review(b'{"apiVersion":"' + b"x" * 1000 + b'"}')
    assert len(str(caught.value)) < 200


# ---- caches ---------------------------------------------------------------------------------------


def test_verified_cache_is_bounded_by_size_and_expiry():
    cache = VerifiedTokenCache(max_entries=2, leeway_s=0)
    cache.put("a", verified(100), now=0)
    cache.put("b", verified(200), now=0)
    assert cache.get("a", now=1) is not None  # a is now the most recent
    cache.put("c", verified(300), now=1)  # evicts b, the least recently used
    assert cache.get("b", now=1) is None and len(cache) == 2
    assert cache.get("a", now=100) is None  # expired entries are never served
    assert cache.get("c", now=100) is not None


def test_verified_cache_sweeps_expired_entries_on_insert():
    cache = VerifiedTokenCache(max_entries=100, leeway_s=0)
    for index in range(5):
        cache.put(f"old{index}", verified(10), now=0)
    cache.put("new", verified(1000), now=50)
    assert len(cache) == 1


def test_replay_guard():
    guard = ReplayGuard(max_entries=2)
    assert guard.first_use(ALICE, "j1", valid_until=100, now=0) is True
    assert guard.first_use(ALICE, "j1", valid_until=100, now=1) is False
    assert guard.first_use(BOB, "j1", valid_until=100, now=1) is True  # per signer
    assert guard.first_use(ALICE, "j2", valid_until=100, now=2) is None  # full of live entries: refuse
    assert guard.first_use(ALICE, "j2", valid_until=300, now=101) is True  # expired ones make room


def test_answer_memo_is_per_snapshot_and_deadline_bounded():
    memo = AnswerMemo(max_entries=2)
    first, second = object(), object()
    memo.put(b"review-a", first, b"answer-a", valid_until=100)
    assert memo.get(b"review-a", first, now=99) == b"answer-a"
    assert memo.get(b"review-a", first, now=100) is None  # deadline reached
    assert memo.get(b"review-a", second, now=0) is None  # any SealToken change forgets everything
    assert len(memo) == 0
    for index in range(3):
        memo.put(b"review-%d" % index, second, b"x", valid_until=100)
    assert len(memo) == 2 and memo.get(b"review-0", second, now=0) is None  # oldest evicted


# ---- join -----------------------------------------------------------------------------------------


def node(name="n", node_name="w1", owner=ALICE, phase="Active", secret="bootstrap-token-abc123"):
    return NodeRecord(name, node_name, owner, phase, secret, False)


def test_choose_node():
    assert choose_node([node()], "w1", ALICE).name == "n"
    # An old, slashed stake by someone else does not hide the signer's active one.
    assert choose_node([node("old", owner=BOB, phase="Slashed"), node("new")], "w1", ALICE).name == "new"
    for nodes, address, reason in [
        ([node()], BOB, "foreign_node"),
        ([node(phase="Draining")], ALICE, "node_not_active"),
        ([node(node_name="w2")], ALICE, "unknown_node"),
    ]:
        with pytest.raises(JoinRefusal) as caught:
            choose_node(nodes, "w1", address)
        assert caught.value.reason == reason


def test_node_from_resource():
    resource = {
        "metadata": {"name": "n"},
        "spec": {"nodeName": "w1", "owner": ALICE},
        "status": {"phase": "Active", "bootstrapTokenSecret": "bootstrap-token-abc123", "joined": True},
    }
    assert node_from_resource(resource) == NodeRecord("n", "w1", ALICE, "Active", "bootstrap-token-abc123", True)
    assert node_from_resource({"metadata": {"name": "n"}, "spec": {}}) is None


def _secret(labels=None, kind="bootstrap.kubernetes.io/token", **data):
    fields = {"token-id": "abc123", "token-secret": "0123456789abcdef", "expiration": "2030-01-01T00:00:00Z", **data}
    return {
        "type": kind,
        "metadata": {"labels": {"k3s-daas.io/staked-node": "n"} if labels is None else labels},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in fields.items()},
    }


def test_bootstrap_secret():
    assert read_bootstrap_secret(_secret(), "n", 0) == ("abc123", "0123456789abcdef", "2030-01-01T00:00:00Z")
    for bad in [
        _secret(labels={}),
        _secret(kind="Opaque"),
        _secret(**{"token-id": "ABC123"}),
        _secret(**{"token-secret": "short"}),
        _secret(expiration="2001-01-01T00:00:00Z"),
        {**_secret(), "metadata": "not an object"},
        {**_secret(), "metadata": {"labels": ["k3s-daas.io/staked-node"]}},
        {**_secret(), "data": ["token-id", "token-secret"]},
    ]:
        with pytest.raises(JoinRefusal) as caught:
            read_bootstrap_secret(bad, "n", 1_800_000_000)
        assert caught.value.status == 503 and "0123456789abcdef" not in caught.value.message


def test_k3s_join_token_format():
    ca = b"-----BEGIN CERTIFICATE-----\n..."
    assert k3s_join_token(ca, "abc123", "0123456789abcdef") == (
        f"K10{hashlib.sha256(ca).hexdigest()}::abc123.0123456789abcdef"
    )
