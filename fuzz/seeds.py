"""Write the seed corpus of every harness into ``fuzz/corpus/<target>/`` (deterministic).

    .venv/bin/python fuzz/seeds.py           # rewrite the committed seeds

Seeds are the valid examples (signed for the harnesses' fixed clock and keys, so they stay valid)
plus a few edge cases. Ed25519 and RFC 6979 ECDSA signatures are deterministic: running this twice
gives the same files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import _harness

from k3s_daas.sealtoken import api_claims, join_claims, sign
from k3s_daas.sealtoken.claims import SealClaims
from k3s_daas.sealtoken.mint import signing_message
from k3s_daas.sealtoken.wire import PREFIX, b64url_encode
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas.sui.keystore import encode_suiprivkey

CORPUS = Path(__file__).resolve().parent / "corpus"
NOW = _harness.NOW


def keys() -> dict[SignatureScheme, Keypair]:
    return {scheme: Keypair.from_secret(scheme, _harness.key_secret(scheme.label)) for scheme in SignatureScheme}


def fixed(claims: SealClaims, token_id: str) -> SealClaims:
    """The same claims with a fixed ``jti`` (minting draws a random one)."""
    return SealClaims(
        subject=claims.subject,
        audience=claims.audience,
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        token_id=token_id,
        seal_token=claims.seal_token,
        node=claims.node,
    )


def api_token(key: Keypair, **changes: object) -> str:
    claims = fixed(api_claims(key.address, _harness.CLUSTER_ID, NOW - 60, 600), f"seed-api-{key.scheme.label}")
    if changes:
        claims = SealClaims(**{**{f: getattr(claims, f) for f in SealClaims.__dataclass_fields__}, **changes})
    return sign(key, claims)


def join_token(key: Keypair, node: str = _harness.NODE_NAME, jti: str = "seed-join-0001") -> str:
    return sign(key, fixed(join_claims(key.address, _harness.CLUSTER_ID, node, NOW - 10, 120), jti))


def forged(header: dict[str, object], payload: dict[str, object], signature: bytes = b"") -> str:
    segments = (b64url_encode(json.dumps(header).encode()), b64url_encode(json.dumps(payload).encode()))
    return PREFIX + ".".join(segments) + "." + b64url_encode(signature)


def sealtoken_seeds() -> list[bytes]:
    ks = keys()
    ed = ks[SignatureScheme.ED25519]
    claims = {"sub": ed.address, "aud": _harness.CLUSTER_ID, "iat": NOW, "exp": NOW + 60}
    tokens = [api_token(key) for key in ks.values()]
    tokens += [
        join_token(ed),
        api_token(ed, seal_token="0x" + "ab" * 32),
        forged({"alg": "none"}, claims),
        forged({"alg": "HS256", "typ": "JWT"}, claims, hashlib.sha256(b"x").digest()),
        forged({"alg": "SuiPersonalMessage", "kid": "x"}, claims, b"\0" * 97),
        tokens[0].removeprefix(PREFIX),
        tokens[0] + "=",
        PREFIX + "..",
    ]
    return [token.encode() for token in tokens]


def signature_seeds() -> list[bytes]:
    seeds = []
    for key in keys().values():
        message = signing_message(fixed(api_claims(key.address, _harness.CLUSTER_ID, NOW, 600), "seed-sig-0001"))
        seeds.append(len(message).to_bytes(2, "big") + message + key.sign_personal_message(message).encode())
        seeds.append(b"\0\0" + encode_suiprivkey(key).encode())
    seeds.append(b"\0\x03a\0b" + base64.b64encode(bytes([5]) + b"\1" * 97))  # zkLogin flag
    seeds.append(b"\0\0" + b"0x" + b"f" * 64)
    return seeds


def tokenreview_seeds() -> list[bytes]:
    tokens = [token.decode() for token in sealtoken_seeds()]
    reviews = [
        {"apiVersion": f"authentication.k8s.io/{version}", "kind": "TokenReview", "spec": {"token": token}}
        for version, token in zip(("v1", "v1beta1", "v1", "v1"), tokens, strict=False)
    ]
    reviews.append({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": 7}})
    raw = [json.dumps(review).encode() for review in reviews]
    return [*raw, b"", b"[]", b"{", b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}']


def admission_review(username: str, group: str, resource: str, operation: str = "CREATE", **extra: object) -> bytes:
    request = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": "v1", "kind": "Thing"},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "name": "cm",
        "namespace": "default",
        "operation": operation,
        "userInfo": {"username": username, "groups": ["k3s-daas:stakers", "system:authenticated"]},
        "object": {"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "cm"}},
        "oldObject": None,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        **extra,
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


def admissionreview_seeds() -> list[bytes]:
    ks = keys()
    user, admin = f"sui:{ks[SignatureScheme.SECP256K1].address}", f"sui:{ks[SignatureScheme.ED25519].address}"
    sealtoken = {"metadata": {"name": "t"}, "spec": {"owner": "0x" + "ee" * 32, "tokenObject": "0x" + "ab" * 32}}
    return [
        admission_review(user, "", "configmaps"),
        admission_review(user, "", "secrets", "UPDATE"),
        admission_review(admin, "k3s-daas.io", "stakednodes"),
        admission_review(user, "k3s-daas.io", "sealtokens", object=sealtoken),
        admission_review("system:node:worker-1", "", "nodes", name="worker-1"),
        admission_review("alice", "", "namespaces", namespace="", name="owned"),
        admission_review(user, "", "pods", "CONNECT", subResource="exec"),
        b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}',
        b"",
        b"[[[[[[[[]]]]]]]]",
    ]


def join_seeds() -> list[bytes]:
    ks = keys()
    requests = [
        join_token(ks[SignatureScheme.ED25519]),
        join_token(ks[SignatureScheme.SECP256K1], jti="seed-join-0002"),  # its StakedNode is Slashed
        join_token(ks[SignatureScheme.SECP256R1], jti="seed-join-0003"),  # no StakedNode of its own
        join_token(ks[SignatureScheme.ED25519], node="worker-2", jti="seed-join-0004"),
        api_token(ks[SignatureScheme.ED25519]),
    ]
    envelopes = [
        json.dumps({"apiVersion": "k3s-daas.io/v1alpha1", "kind": "JoinRequest", "request": request}).encode()
        for request in requests
    ]
    return [*envelopes, b'{"kind":"JoinRequest"}', b"null", requests[0].encode()]


def localnet_seeds() -> list[bytes]:
    address = keys()[SignatureScheme.ED25519].address
    queries = [
        "{ chainIdentifier }",
        "query($id: SuiAddress!) { object(address: $id) { address version asMoveObject { contents { json } } } }",
        "{ checkpoint { sequenceNumber } }",
        "query($t: String!) { events(filter: {eventType: $t}, first: 5) { nodes { contents { json } } "
        "pageInfo { endCursor hasNextPage } } }",
        "query($o: SuiAddress!) { objects(filter: {owner: $o}) { nodes { address } } }",
        "{ serviceConfig { maxQueryDepth maxQueryNodes } }",
    ]
    variables = {"id": "0x2", "t": "0x2::staking::Staked", "o": address}
    posts = [json.dumps({"query": query, "variables": variables}).encode() for query in queries]
    calls = [
        {"module": "staking", "function": "stake", "arguments": {"amount": "600000000", "role": 0, "node_name": ""}},
        {"module": "staking", "function": "stake", "arguments": {"amount": "1000000000", "role": 1, "node_name": "n"}},
        {"module": "k8s_gateway", "function": "issue_seal_token",
         "arguments": {"record": "0x" + "ab" * 32, "permissions": ["pods:read"], "expires_in_ms": "60000"}},
        {"module": "k8s_gateway", "function": "submit_request",
         "arguments": {"method": "GET", "path": "/api", "payload": ""}},
    ]  # fmt: skip
    execute = json.dumps({"message": base64.b64encode(b'{"v":1}').decode(), "signature": "AA=="}).encode()
    return [
        *(b"\0" + post for post in posts),
        b"\1" + queries[0].encode(),
        b"\2" + execute,
        *(b"\3" + json.dumps(call).encode() for call in calls),
        b"\0{",
    ]


def write(target: str, seeds: Iterable[bytes]) -> None:
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for seed in seeds:
        (directory / hashlib.sha1(seed, usedforsecurity=False).hexdigest()).write_bytes(seed)


def main() -> int:
    write("sealtoken", sealtoken_seeds())
    write("signature", signature_seeds())
    write("tokenreview", tokenreview_seeds())
    write("admissionreview", admissionreview_seeds())
    write("join", join_seeds())
    write("localnet", localnet_seeds())
    print(f"seeds written under {CORPUS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
