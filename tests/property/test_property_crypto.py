"""Properties of Sui signature decoding and verification (k3s_daas.sui.crypto) and key parsing.

Arbitrary bytes and text: a verified signer or SignatureError / KeystoreError, nothing else.
Signatures of any message round-trip for every scheme; any bit flip of a signature is refused.
"""

from __future__ import annotations

import base64
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from k3s_daas.sui.crypto import (
    AddressError,
    Keypair,
    SignatureError,
    SignatureScheme,
    normalize_address,
    verify_personal_message,
)
from k3s_daas.sui.keystore import KeystoreError, encode_suiprivkey, parse_suiprivkey

FAST = settings(max_examples=200, deadline=None, database=None)
SIGNING = settings(max_examples=40, deadline=None, database=None)
KEYS = {scheme: Keypair.from_secret(scheme, bytes([0x50 + scheme]) * 32) for scheme in SignatureScheme}
schemes = st.sampled_from(list(SignatureScheme))


@FAST
@given(
    st.binary(max_size=64), st.text(max_size=200) | st.binary(max_size=120).map(lambda b: base64.b64encode(b).decode())
)
def test_any_signature_text_verifies_or_is_a_signature_error(message: bytes, signature: str) -> None:
    try:
        signer = verify_personal_message(message, signature)
    except SignatureError:
        return
    assert signer.address.startswith("0x")  # only reachable with a real signature over message


@FAST
@given(st.sampled_from([0, 1, 2, 3, 5, 255]), st.binary(min_size=64, max_size=64), st.binary(min_size=32, max_size=33))
def test_well_framed_garbage_is_refused_for_every_scheme_flag(flag: int, signature: bytes, key: bytes) -> None:
    serialized = base64.b64encode(bytes([flag]) + signature + key).decode()
    try:
        verify_personal_message(b"message", serialized)
    except SignatureError:
        return
    raise AssertionError("random bytes verified as a signature")


@SIGNING
@given(schemes, st.binary(max_size=300))
def test_signatures_round_trip_for_any_message(scheme: SignatureScheme, message: bytes) -> None:
    key = KEYS[scheme]
    signer = verify_personal_message(message, key.sign_personal_message(message), expected_address=key.address)
    assert signer.address == key.address and signer.scheme is scheme


@SIGNING
@given(schemes, st.binary(max_size=100), st.data())
def test_any_bit_flip_of_a_signature_is_refused(scheme: SignatureScheme, message: bytes, data: st.DataObject) -> None:
    raw = bytearray(base64.b64decode(KEYS[scheme].sign_personal_message(message)))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    try:
        signer = verify_personal_message(message, base64.b64encode(bytes(raw)).decode())
    except SignatureError:
        return
    # Flipping a public-key bit can only "verify" for a different key, which is a different address.
    raise AssertionError(f"bit {bit} flipped and the signature still verified for {signer.address}")


@FAST
@given(st.text(max_size=80) | st.from_regex(r"0x[0-9a-fA-F]{1,66}", fullmatch=True))
def test_addresses_normalize_or_are_refused(text: str) -> None:
    try:
        address = normalize_address(text)
    except AddressError:
        return
    assert len(address) == 66 and normalize_address(address) == address


@SIGNING
@given(schemes, st.binary(min_size=32, max_size=32))
def test_suiprivkey_round_trips(scheme: SignatureScheme, secret: bytes) -> None:
    try:
        key = Keypair.from_secret(scheme, secret)
    except SignatureError:
        return  # a secp scalar out of range
    assert parse_suiprivkey(encode_suiprivkey(key)) == key


@FAST
@given(
    st.text(max_size=120)
    | st.builds(lambda s: "suiprivkey1" + s, st.text(alphabet="qpzry9x8gf2tvdw0s3jn54khce6mua7l", max_size=80))
)
def test_any_suiprivkey_text_is_a_key_or_a_keystore_error(text: str) -> None:
    with contextlib.suppress(KeystoreError):
        parse_suiprivkey(text)
