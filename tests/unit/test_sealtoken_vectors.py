"""Seal tokens built and signed by the official Sui TypeScript SDK (tests/vectors/sui-sdk/seal-tokens.mjs)
from the documentation alone: valid ones verify, each broken one is refused for the stated reason."""

import json
from pathlib import Path

import pytest

from k3s_daas.sealtoken import (
    API_TOKEN,
    JOIN_REQUEST,
    Rejection,
    SealClaims,
    TokenRejected,
    sign,
    signing_message,
    verify_token,
)
from k3s_daas.sealtoken.wire import b64url_decode
from k3s_daas.sui import Keypair, SignatureScheme

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "seal-tokens.json").read_text())
NOW = VECTORS["now"]


def _profile(vector):
    return JOIN_REQUEST if vector["profile"] == "join" else API_TOKEN


def test_vectors_cover_every_scheme_and_every_rejection():
    assert {key["flag"] for key in VECTORS["keys"]} == {0, 1, 2}
    assert VECTORS["sdk"].startswith("@mysten/sui@")
    expected = {vector["expect"] for vector in VECTORS["vectors"]}
    assert expected == {"valid"} | {reason.value for reason in Rejection}


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda vector: vector["name"])
def test_sdk_vector(vector):
    if vector["expect"] == "valid":
        verified = verify_token(vector["token"], audience=vector["audience"], now=NOW, profile=_profile(vector))
        assert verified.claims.subject == verified.address
        assert verified.address in {key["address"] for key in VECTORS["keys"]}
        return
    with pytest.raises(TokenRejected) as caught:
        verify_token(vector["token"], audience=vector["audience"], now=NOW, profile=_profile(vector))
    assert caught.value.reason.value == vector["expect"], caught.value.detail
    # The message explains; it never echoes the token.
    assert vector["token"] not in str(caught.value) or not vector["token"]


@pytest.mark.parametrize("key", VECTORS["keys"], ids=lambda key: key["scheme"])
def test_python_signer_reproduces_sdk_tokens_byte_for_byte(key):
    """Same claims, same key: our minting gives the SDK's exact token (Ed25519 and RFC 6979 ECDSA)."""
    keypair = Keypair.from_secret(SignatureScheme(key["flag"]), bytes.fromhex(key["secret_hex"]))
    assert keypair.address == key["address"]
    vector = next(v for v in VECTORS["vectors"] if v["name"].endswith("valid API token") and key["address"] in _sub(v))
    claims = SealClaims(
        subject=key["address"],
        audience=VECTORS["cluster_id"],
        issued_at=NOW - 60,
        expires_at=NOW + 540,
        token_id="vector-jti-0001",
    )
    message = signing_message(claims)
    assert message.decode() == vector["signed_message"]
    assert vector["token"].startswith(vector["signed_message"] + ".")
    assert sign(keypair, claims) == vector["token"]


def _sub(vector) -> str:
    return json.loads(b64url_decode(vector["token"].split(".")[2]))["sub"]
