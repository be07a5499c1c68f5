"""Seal token verification, check by check, with tokens minted here (fixed `now`, no clock)."""

import base64
import json

import pytest

from k3s_daas.sealtoken import (
    API_TOKEN,
    JOIN_REQUEST,
    MAX_TOKEN_BYTES,
    PREFIX,
    Rejection,
    SealClaims,
    TokenRejected,
    api_claims,
    assemble,
    join_claims,
    sign,
    signing_message,
    still_valid,
    verify_token,
)
from k3s_daas.sealtoken.wire import b64url_decode, b64url_encode
from k3s_daas.sui import Keypair, SignatureScheme

NOW = 1_800_000_000
CLUSTER = "test-cluster"
KEYS = {scheme: Keypair.from_secret(scheme, bytes([scheme + 1]) * 32) for scheme in SignatureScheme}
ED = KEYS[SignatureScheme.ED25519]


def claims(key=ED, **changes):
    base = {"subject": key.address, "audience": CLUSTER, "issued_at": NOW, "expires_at": NOW + 600}
    return SealClaims(**{**base, **changes})


def reject(token, reason, *, audience=CLUSTER, now=NOW, profile=API_TOKEN, **kwargs):
    with pytest.raises(TokenRejected) as caught:
        verify_token(token, audience=audience, now=now, profile=profile, **kwargs)
    assert caught.value.reason is reason, caught.value.detail
    return caught.value


def forge(payload: dict | bytes, header: dict | None = None, key=ED) -> str:
    """A correctly signed token over arbitrary header/payload bytes."""
    header_bytes = json.dumps(header or {"alg": "SuiPersonalMessage", "typ": "JWT"}).encode()
    payload_bytes = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    message = f"{PREFIX}{b64url_encode(header_bytes)}.{b64url_encode(payload_bytes)}".encode()
    return assemble(message, key.sign_personal_message(message))


@pytest.mark.parametrize("scheme", list(SignatureScheme), ids=lambda s: s.label)
def test_round_trip_every_scheme(scheme):
    key = KEYS[scheme]
    token = sign(key, api_claims(key.address, CLUSTER, NOW, 600, seal_token="0x" + "ab" * 32))
    verified = verify_token(token, audience=CLUSTER, now=NOW)
    assert verified.address == key.address
    assert verified.signer.scheme is scheme
    assert verified.claims.seal_token == "0x" + "ab" * 32
    assert verified.claims.expires_at == NOW + 600
    assert token.startswith(PREFIX) and len(token) < 600


def test_signed_message_is_the_token_without_its_signature():
    token = sign(ED, claims())
    assert token.rsplit(".", 1)[0].encode() == signing_message(claims())
    header = json.loads(b64url_decode(token.split(".")[1]))
    assert header == {"alg": "SuiPersonalMessage", "typ": "JWT"}


def test_signature_segment_is_the_wallet_signature_in_base64url():
    message = signing_message(claims())
    wallet_signature = ED.sign_personal_message(message)  # standard base64, as wallets return it
    token = assemble(message, wallet_signature)
    assert base64.b64decode(wallet_signature) == b64url_decode(token.rsplit(".", 1)[1])
    assert "=" not in token


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (NOW + 600 + 29, None),  # inside the leeway
        (NOW + 600 + 30, Rejection.EXPIRED),
        (NOW - 30, None),
        (NOW - 31, Rejection.NOT_YET_VALID),
    ],
)
def test_expiry_and_issue_time_with_leeway(now, reason):
    token = sign(ED, claims())
    if reason is None:
        verify_token(token, audience=CLUSTER, now=now, leeway_s=30)
    else:
        reject(token, reason, now=now, leeway_s=30)


def test_not_before():
    token = sign(ED, claims(not_before=NOW + 100))
    reject(token, Rejection.NOT_YET_VALID)
    verify_token(token, audience=CLUSTER, now=NOW + 100)


def test_lifetime_cap():
    token = sign(ED, claims(expires_at=NOW + 901))
    reject(token, Rejection.LIFETIME_TOO_LONG)
    verify_token(token, audience=CLUSTER, now=NOW, max_lifetime_s=901)


def test_audience_is_checked_unless_none():
    token = sign(ED, claims(audience="other"))
    reject(token, Rejection.WRONG_AUDIENCE)
    assert verify_token(token, audience=None, now=NOW).claims.audience == "other"


def test_address_must_be_the_signers():
    other = KEYS[SignatureScheme.SECP256R1]
    error = reject(sign(ED, claims(subject=other.address)), Rejection.ADDRESS_MISMATCH)
    assert other.address in error.detail and ED.address in error.detail


def test_size_cap_is_checked_before_anything_else():
    reject("x" * (MAX_TOKEN_BYTES + 1), Rejection.OVERSIZED)
    token = sign(ED, claims(token_id="j" * 128))
    padded = token + "A" * (MAX_TOKEN_BYTES - len(token))
    assert len(padded) == MAX_TOKEN_BYTES
    reject(padded, Rejection.BAD_SIGNATURE)  # exactly at the cap: checked, not refused for size


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", Rejection.WRONG_PREFIX),
        ("Bearer k3s-daas-v1.a.b.c", Rejection.WRONG_PREFIX),
        (PREFIX + "a.b", Rejection.MALFORMED),
        (PREFIX + "!!!.b.c", Rejection.MALFORMED),
        (PREFIX + b64url_encode(b"[1]") + ".b.c", Rejection.MALFORMED),
        (PREFIX + b64url_encode(b'{"typ":"JWT"}') + ".b.c", Rejection.MALFORMED),
        (PREFIX + b64url_encode(b'{"alg":"none"}') + ".e30.", Rejection.FORBIDDEN_ALGORITHM),
        (PREFIX + b64url_encode(b'{"alg":"NONE"}') + ".e30.", Rejection.FORBIDDEN_ALGORITHM),
        (PREFIX + b64url_encode(b'{"alg":"HS512"}') + ".e30.AAAA", Rejection.FORBIDDEN_ALGORITHM),
        (PREFIX + b64url_encode(b'{"alg":"RS256"}') + ".e30.AAAA", Rejection.UNKNOWN_ALGORITHM),
        (PREFIX + b64url_encode(b'{"alg":"SuiPersonalMessage","typ":"JWS"}') + ".e30.AAAA", Rejection.MALFORMED),
        (
            PREFIX + b64url_encode(b'{"alg":"SuiPersonalMessage","alg":"SuiPersonalMessage"}') + ".e30.AAAA",
            Rejection.MALFORMED,
        ),
        (PREFIX + b64url_encode(b'{"alg":"SuiPersonalMessage"}') + ".e30.AAAA", Rejection.BAD_SIGNATURE),
    ],
)
def test_structural_rejections(token, reason):
    reject(token, reason)


@pytest.mark.parametrize("flag", [3, 4, 5, 6, 9])
def test_signature_schemes_other_than_the_three_are_refused(flag):
    token = sign(ED, claims())
    raw = bytearray(b64url_decode(token.rsplit(".", 1)[1]))
    raw[0] = flag
    error = reject(token.rsplit(".", 1)[0] + "." + b64url_encode(bytes(raw)), Rejection.BAD_SIGNATURE)
    assert "flag" in error.detail


def test_signature_over_other_bytes_is_refused():
    good = sign(ED, claims())
    other = sign(ED, claims(expires_at=NOW + 601))
    reject(good.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1], Rejection.BAD_SIGNATURE)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"sub": ED.address, "aud": CLUSTER, "iat": NOW, "exp": NOW + 60, "role": "admin"}, "unexpected"),
        ({"sub": ED.address, "aud": CLUSTER, "iat": NOW, "exp": NOW + 60.5}, "integer"),
        ({"sub": ED.address, "aud": CLUSTER, "iat": True, "exp": NOW + 60}, "integer"),
        ({"sub": ED.address, "aud": CLUSTER, "iat": NOW, "exp": NOW}, "later"),
        ({"sub": ED.address.upper(), "aud": CLUSTER, "iat": NOW, "exp": NOW + 60}, "lowercase"),
        ({"sub": ED.address, "aud": CLUSTER, "iat": NOW, "exp": NOW + 60, "jti": "short"}, "jti"),
        ({"sub": ED.address, "aud": CLUSTER, "iat": NOW, "exp": NOW + 60, "seal_token": "0x1"}, "object id"),
        ({"sub": ED.address, "aud": CLUSTER, "iat": NOW}, "exp"),
    ],
)
def test_claim_rejections(payload, fragment):
    error = reject(forge(payload), Rejection.INVALID_CLAIMS)
    assert fragment in error.detail


def test_join_profile_requires_node_and_jti_and_refuses_them_on_api_tokens():
    join = sign(ED, join_claims(ED.address, CLUSTER, "worker-1", NOW, 120))
    verified = verify_token(join, audience=CLUSTER + ":join", now=NOW, profile=JOIN_REQUEST)
    assert verified.claims.node == "worker-1" and verified.claims.token_id
    # A join request's audience is not the cluster's, and its claims are not an API token's.
    reject(join, Rejection.WRONG_AUDIENCE)
    reject(join, Rejection.INVALID_CLAIMS, audience=None)
    api = sign(ED, api_claims(ED.address, CLUSTER + ":join", NOW, 120))
    error = reject(api, Rejection.INVALID_CLAIMS, audience=CLUSTER + ":join", profile=JOIN_REQUEST)
    assert "node" in error.detail


def test_still_valid_matches_the_expiry_check():
    verified = verify_token(sign(ED, claims()), audience=CLUSTER, now=NOW)
    assert still_valid(verified.claims, NOW + 629)
    assert not still_valid(verified.claims, NOW + 630)


def test_rejection_message_never_contains_the_token():
    token = sign(ED, claims(audience="elsewhere"))
    error = reject(token, Rejection.WRONG_AUDIENCE)
    assert token.split(".")[-1] not in str(error)
