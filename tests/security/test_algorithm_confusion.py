"""Algorithm confusion and `alg: none`, against the real webhook over HTTPS: tokens that a JOSE
library configured carelessly would accept are refused, each with its named reason.

Existing coverage (not repeated here): tests/unit/test_sealtoken.py::test_structural_rejections and
tests/webhook/test_authenticate.py::test_token_denials send `none`/HS/RS headers with junk signatures;
these cases carry real signatures made the way an attacker would make them.
"""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from webhook_testing import call, token_review

from k3s_daas.sealtoken import PREFIX, api_claims, sign
from k3s_daas.sealtoken.wire import b64url_decode, b64url_encode
from k3s_daas.sui.crypto import Keypair, SignatureScheme

CLUSTER = "test-cluster"


def review(webhook, token: str) -> dict:
    status, _, body = call(webhook.port, webhook.ca, "POST", "/authenticate", token_review(token))
    assert status == 200, body
    return body["status"]


def claims_of(key: Keypair) -> dict:
    now = int(time.time())
    return {"sub": key.address, "aud": CLUSTER, "iat": now, "exp": now + 300}


def assert_refused(webhook, token: str, reason: str) -> None:
    status = review(webhook, token)
    assert status["authenticated"] is False
    assert status["error"].startswith(f"k3s-daas: {reason}:"), status["error"]
    assert token not in status["error"]


def test_the_genuine_token_authenticates(start_webhook, active, alice) -> None:
    webhook = start_webhook(holder=active)
    assert review(webhook, sign(alice, api_claims(alice.address, CLUSTER, int(time.time()), 300)))["authenticated"]


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_case_is_refused_even_with_the_genuine_signature_attached(
    start_webhook, active, alice, alg
) -> None:
    webhook = start_webhook(holder=active)
    genuine = sign(alice, api_claims(alice.address, CLUSTER, int(time.time()), 300))
    _prefix_header, payload, signature = genuine.removeprefix(PREFIX).split(".")
    header = b64url_encode(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    for tail in ("", signature):  # unsigned, and with the owner's real signature of the genuine token
        assert_refused(webhook, f"{PREFIX}{header}.{payload}.{tail}", "forbidden_algorithm")
    # What pyjwt itself produces for alg none, behind our prefix.
    unsigned = jwt.encode(claims_of(alice), key=None, algorithm="none")
    assert_refused(webhook, PREFIX + unsigned, "forbidden_algorithm")


@pytest.mark.filterwarnings("ignore:The HMAC key is")  # pyjwt warns about the short "secret": it is the point
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_keyed_with_the_signers_public_key_is_refused(start_webhook, active, alice, alg) -> None:
    """The classic confusion: the verifier's public key used as an HMAC secret. Our public key is
    even printed inside every signature, so an attacker has it."""
    webhook = start_webhook(holder=active)
    for secret in (alice.public_key, alice.public_key.hex().encode(), base64.b64encode(alice.public_key)):
        forged = jwt.encode(claims_of(alice), key=secret, algorithm=alg)
        assert_refused(webhook, PREFIX + forged, "forbidden_algorithm")


def test_standard_jose_ecdsa_tokens_are_refused(start_webhook, active) -> None:
    """A correctly signed ES256 / ES256K JWS (the curves Sui uses) is not a Seal token."""
    webhook = start_webhook(holder=active)
    for alg, curve in (("ES256", ec.SECP256R1()), ("ES256K", ec.SECP256K1())):
        private = ec.generate_private_key(curve)
        key = Keypair(private)
        forged = jwt.encode(claims_of(key), key=private, algorithm=alg)
        assert_refused(webhook, PREFIX + forged, "unknown_algorithm")


def test_signature_relabelled_as_another_scheme_is_refused(start_webhook, active, alice) -> None:
    """The scheme flag picks the curve: the same bytes under another flag never verify."""
    webhook = start_webhook(holder=active)
    genuine = sign(alice, api_claims(alice.address, CLUSTER, int(time.time()), 300))
    message, segment = genuine.rsplit(".", 1)
    raw = b64url_decode(segment)
    for flag in (1, 2):  # Ed25519 signature (32-byte key) relabelled; pad the key to a secp length
        relabelled = bytes([flag]) + raw[1:] + b"\x02"
        assert_refused(webhook, f"{message}.{b64url_encode(relabelled)}", "bad_signature")
    secp = Keypair.generate(SignatureScheme.SECP256R1)
    secp_token = sign(secp, api_claims(secp.address, CLUSTER, int(time.time()), 300))
    secp_message, secp_segment = secp_token.rsplit(".", 1)
    as_k1 = bytes([1]) + b64url_decode(secp_segment)[1:]  # r1 signature and key presented as k1
    assert_refused(webhook, f"{secp_message}.{b64url_encode(as_k1)}", "bad_signature")


def test_a_wallet_signature_of_the_unprefixed_jws_is_refused(start_webhook, active, alice) -> None:
    """A personal-message signature the owner gave some other site for `header.payload` (no prefix)."""
    webhook = start_webhook(holder=active)
    genuine = sign(alice, api_claims(alice.address, CLUSTER, int(time.time()), 300))
    message = genuine.rsplit(".", 1)[0].removeprefix(PREFIX)
    elsewhere = alice.sign_personal_message(message.encode())
    assert_refused(webhook, f"{PREFIX}{message}.{b64url_encode(base64.b64decode(elsewhere))}", "bad_signature")
