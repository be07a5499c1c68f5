"""Properties of the Seal token parser (k3s_daas.sealtoken), over generated input.

Any text: a verified token or TokenRejected, nothing else. Valid tokens over every scheme and any
claims in range round-trip exactly. Any one-character change of a valid token is refused.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from k3s_daas.sealtoken import (
    API_TOKEN,
    JOIN_REQUEST,
    PREFIX,
    SealClaims,
    TokenRejected,
    assemble,
    sign,
    verify_token,
)
from k3s_daas.sealtoken.claims import parse_claims
from k3s_daas.sealtoken.wire import b64url_decode, b64url_encode
from k3s_daas.sui.crypto import Keypair, SignatureScheme

NOW = 1_800_000_000
CLUSTER = "property-cluster"
KEYS = {scheme: Keypair.from_secret(scheme, bytes([0x40 + scheme]) * 32) for scheme in SignatureScheme}
FAST = settings(max_examples=200, deadline=None, database=None)
SIGNING = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

token_ids = st.from_regex(r"[A-Za-z0-9_-]{8,128}", fullmatch=True)
object_ids = st.from_regex(r"0x[0-9a-f]{64}", fullmatch=True)
cluster_ids = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True)


@st.composite
def valid_claims(draw: st.DrawFn) -> tuple[Keypair, SealClaims]:
    key = KEYS[draw(st.sampled_from(list(SignatureScheme)))]
    issued = NOW - draw(st.integers(0, 29))
    return key, SealClaims(
        subject=key.address,
        audience=draw(cluster_ids),
        issued_at=issued,
        expires_at=issued + draw(st.integers(31, 900)),
        not_before=draw(st.none() | st.integers(1, NOW)),
        token_id=draw(st.none() | token_ids),
        seal_token=draw(st.none() | object_ids),
    )


def outcome(token: str, **kwargs: object) -> object:
    try:
        return verify_token(token, audience=CLUSTER, now=NOW, **kwargs)  # type: ignore[arg-type]
    except TokenRejected as rejection:
        return rejection.reason


@FAST
@given(st.text(max_size=600) | st.builds(lambda s: PREFIX + s, st.text(max_size=600)))
def test_any_text_is_a_token_or_a_named_rejection(text: str) -> None:
    for profile in (API_TOKEN, JOIN_REQUEST):
        result = outcome(text, profile=profile)
        assert not isinstance(result, Exception)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["alg", "typ", "kid", "crit", "jku"]), st.text(max_size=20) | st.integers() | st.none()
    ),
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20) | st.none() | st.booleans()),
    st.binary(max_size=100),
)
def test_any_header_payload_and_signature_bytes_are_refused_cleanly(header, payload, signature) -> None:
    token = PREFIX + ".".join(
        (
            b64url_encode(json.dumps(header).encode()),
            b64url_encode(json.dumps(payload).encode()),
            b64url_encode(signature),
        )
    )
    assert not isinstance(outcome(token), type(None))
    try:
        verify_token(token, audience=CLUSTER, now=NOW)
    except TokenRejected:
        return
    raise AssertionError("a token without a valid signature was accepted")


@FAST
@given(
    st.dictionaries(
        st.text(max_size=12),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=70), lambda inner: st.lists(inner, max_size=3), max_leaves=5
        ),
    )
)
def test_claims_parse_or_are_refused_as_invalid_claims(payload) -> None:
    for profile in (API_TOKEN, JOIN_REQUEST):
        try:
            claims = parse_claims(payload, profile)
        except TokenRejected as rejection:
            assert rejection.reason.value == "invalid_claims"
        else:
            assert claims.expires_at > claims.issued_at


@SIGNING
@given(valid_claims())
def test_valid_tokens_round_trip_exactly(drawn) -> None:
    key, claims = drawn
    token = sign(key, claims)
    verified = verify_token(token, audience=claims.audience, now=NOW)
    assert verified.claims == claims
    assert verified.address == key.address


@SIGNING
@given(valid_claims(), st.data())
def test_any_one_character_change_is_refused(drawn, data) -> None:
    key, claims = drawn
    token = sign(key, claims)
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii"))
    changed = token[:index] + replacement + token[index + 1 :]
    assume(changed != token)
    try:
        verify_token(changed, audience=claims.audience, now=NOW)
    except TokenRejected:
        return
    raise AssertionError(f"changing character {index} of a valid token left it valid")


@SIGNING
@given(valid_claims(), st.sampled_from(list(SignatureScheme)))
def test_a_signature_by_another_key_never_passes_for_the_claimed_address(drawn, scheme) -> None:
    key, claims = drawn
    other = KEYS[scheme]
    assume(other.address != key.address)
    message = sign(key, claims).rsplit(".", 1)[0].encode()
    forged = assemble(message, other.sign_personal_message(message))
    try:
        verify_token(forged, audience=claims.audience, now=NOW)
    except TokenRejected as rejection:
        assert rejection.reason.value == "address_mismatch"
    else:
        raise AssertionError("a token signed by another key was accepted")


@FAST
@given(st.binary(max_size=200))
def test_base64url_is_canonical_both_ways(data: bytes) -> None:
    text = b64url_encode(data)
    assert b64url_decode(text) == data
    assert "=" not in text


@FAST
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ ", max_size=40))
def test_base64url_decoding_accepts_only_the_canonical_text(text: str) -> None:
    try:
        data = b64url_decode(text)
    except ValueError:
        return
    assert b64url_encode(data) == text
