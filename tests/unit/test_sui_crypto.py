"""Sui signatures: agreement with the official TypeScript SDK, and every way an input can be bad."""

import base64
import hashlib
import json
from pathlib import Path

import pytest

from k3s_daas.errors import UserError
from k3s_daas.sui import (
    AddressError,
    Keypair,
    SignatureError,
    SignatureScheme,
    VerifiedSigner,
    address_from_public_key,
    normalize_address,
    personal_message_digest,
    verify_personal_message,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "sui-signatures.json").read_text())
MESSAGES = [bytes.fromhex(message["hex"]) for message in VECTORS["messages"]]
KEYS = VECTORS["keys"]
SIGNATURES = [(key, entry) for key in KEYS for entry in key["signatures"]]
ORDERS = {
    SignatureScheme.SECP256K1: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    SignatureScheme.SECP256R1: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
ALL_SCHEMES = list(SignatureScheme)


def _id(value: object) -> str:
    if isinstance(value, tuple):
        key, entry = value
        return f"{key['scheme']}-{key['address'][:8]}-m{entry['message']}"
    return str(value)


def _keypair(vector: dict) -> Keypair:
    return Keypair.from_secret(SignatureScheme(vector["flag"]), bytes.fromhex(vector["secret_hex"]))


def _split(signature_b64: str) -> tuple[int, bytes, bytes]:
    raw = base64.b64decode(signature_b64)
    return raw[0], raw[1:65], raw[65:]


def _join(flag: int, signature: bytes, public_key: bytes) -> str:
    return base64.b64encode(bytes([flag]) + signature + public_key).decode()


def test_vectors_cover_every_scheme_and_uleb128_boundary():
    assert {key["flag"] for key in KEYS} == {0, 1, 2}
    assert {0, 127, 128, 16383, 16384} <= {len(message) for message in MESSAGES}
    assert any(b"\x00" in message for message in MESSAGES)


@pytest.mark.parametrize("index", range(len(MESSAGES)))
def test_personal_message_digest_matches_sdk(index):
    expected = VECTORS["messages"][index]["personal_message_digest_hex"]
    assert personal_message_digest(MESSAGES[index]).hex() == expected


@pytest.mark.parametrize(
    ("length", "prefix"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
    ],
)
def test_personal_message_digest_uleb128_length_prefix(length, prefix):
    message = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    expected = hashlib.blake2b(b"\x03\x00\x00" + prefix + message, digest_size=32).digest()
    assert personal_message_digest(message) == expected


@pytest.mark.parametrize("vector", KEYS, ids=lambda key: f"{key['scheme']}-{key['address'][:8]}")
def test_keypair_from_secret_matches_sdk(vector):
    key = _keypair(vector)
    assert key.scheme == vector["flag"]
    assert key.public_key.hex() == vector["public_key_hex"]
    assert key.address == vector["address"]
    assert key.secret_bytes().hex() == vector["secret_hex"]
    assert address_from_public_key(key.scheme, key.public_key) == vector["address"]


@pytest.mark.parametrize("case", SIGNATURES, ids=_id)
def test_verifies_sdk_signature(case):
    vector, entry = case
    signer = verify_personal_message(MESSAGES[entry["message"]], entry["signature"], vector["address"])
    assert signer == VerifiedSigner(
        address=vector["address"],
        scheme=SignatureScheme(vector["flag"]),
        public_key=bytes.fromhex(vector["public_key_hex"]),
    )


@pytest.mark.parametrize("case", SIGNATURES, ids=_id)
def test_our_signature_is_byte_identical_to_sdk(case):
    # Ed25519 is deterministic; for ECDSA both sides use RFC 6979 nonces and low-S normalization.
    vector, entry = case
    assert _keypair(vector).sign_personal_message(MESSAGES[entry["message"]]) == entry["signature"]


@pytest.mark.parametrize("case", [case for case in SIGNATURES if "high_s_signature" in case[1]], ids=_id)
def test_high_s_signature_is_rejected_like_sdk(case):
    _, entry = case
    assert entry["sdk_accepts_high_s"] is False
    with pytest.raises(SignatureError, match="low-S"):
        verify_personal_message(MESSAGES[entry["message"]], entry["high_s_signature"])


@pytest.mark.parametrize("scheme", [SignatureScheme.SECP256K1, SignatureScheme.SECP256R1])
def test_our_ecdsa_signatures_are_low_s(scheme):
    key = Keypair.generate(scheme)
    for index in range(64):
        _, signature, _ = _split(key.sign_personal_message(index.to_bytes(2, "big")))
        assert int.from_bytes(signature[32:], "big") <= ORDERS[scheme] // 2


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=str)
@pytest.mark.parametrize("message", [b"", b"\x00", b"\x00\x00", b"a\x00b", bytes(200), b"x" * 16384])
def test_sign_then_verify_round_trip(scheme, message):
    key = Keypair.generate(scheme)
    signer = verify_personal_message(message, key.sign_personal_message(message), key.address)
    assert signer.address == key.address
    assert signer.public_key == key.public_key
    assert signer.scheme is scheme


def test_zero_bytes_are_part_of_the_signed_message():
    key = Keypair.generate(SignatureScheme.ED25519)
    signature = key.sign_personal_message(b"a\x00b")
    with pytest.raises(SignatureError, match="does not verify"):
        verify_personal_message(b"ab", signature)


@pytest.mark.parametrize("vector", KEYS[::3], ids=lambda key: key["scheme"])
def test_tampered_signature_does_not_verify(vector):
    entry = vector["signatures"][1]
    flag, signature, public_key = _split(entry["signature"])
    # Flip a bit in r: s stays low, so only the curve check can reject it.
    tampered = bytes([signature[0] ^ 0x01]) + signature[1:]
    with pytest.raises(SignatureError, match="does not verify"):
        verify_personal_message(MESSAGES[entry["message"]], _join(flag, tampered, public_key))


@pytest.mark.parametrize("vector", KEYS[::3], ids=lambda key: key["scheme"])
def test_tampered_message_does_not_verify(vector):
    entry = vector["signatures"][1]
    with pytest.raises(SignatureError, match="does not verify"):
        verify_personal_message(MESSAGES[entry["message"]] + b"!", entry["signature"])


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=str)
def test_swapped_public_key_does_not_verify_nor_match_address(scheme):
    signer, other = Keypair.generate(scheme), Keypair.generate(scheme)
    flag, signature, _ = _split(signer.sign_personal_message(b"hi"))
    forged = _join(flag, signature, other.public_key)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_personal_message(b"hi", forged)
    with pytest.raises(SignatureError, match=f"signature is from {other.address}, expected {signer.address}"):
        verify_personal_message(b"hi", forged, signer.address)


def test_address_mismatch():
    vector, entry = SIGNATURES[0]
    other = KEYS[1]["address"]
    with pytest.raises(SignatureError, match=f"is from {vector['address']}, expected {other}"):
        verify_personal_message(MESSAGES[entry["message"]], entry["signature"], other)


def test_expected_address_is_normalized():
    key = Keypair.from_secret(SignatureScheme.ED25519, bytes(32))
    signature = key.sign_personal_message(b"m")
    assert verify_personal_message(b"m", signature, key.address.upper().replace("0X", "0x")).address == key.address


def test_bad_expected_address_is_an_address_error():
    _, entry = SIGNATURES[0]
    with pytest.raises(AddressError):
        verify_personal_message(MESSAGES[entry["message"]], entry["signature"], "not-an-address")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("!!!!", "not valid base64"),
        ("AAEC AwQ=", "not valid base64"),
        ("AAECAwQ", "not valid base64"),
        ("é" * 8, "not valid base64"),
        ("A" * 200, "more than a Sui signature"),
    ],
)
def test_bad_base64(text, reason):
    with pytest.raises(SignatureError, match=reason):
        verify_personal_message(b"m", text)


@pytest.mark.parametrize(
    ("flag", "reason"),
    [(3, "MultiSig"), (4, "BLS12-381"), (5, "zkLogin"), (6, "passkey"), (7, "unknown"), (255, "unknown")],
)
def test_unknown_or_unsupported_flag(flag, reason):
    with pytest.raises(SignatureError, match=reason):
        verify_personal_message(b"m", _join(flag, bytes(64), bytes(32)))


@pytest.mark.parametrize(
    ("flag", "length", "expected"),
    [(0, 96, 97), (0, 98, 97), (1, 97, 98), (1, 99, 98), (2, 97, 98), (2, 65, 98), (0, 1, 97)],
)
def test_wrong_length_for_scheme(flag, length, expected):
    raw = bytes([flag]) + bytes(length - 1)
    with pytest.raises(SignatureError, match=f"must be {expected} bytes.*got {length}"):
        verify_personal_message(b"m", base64.b64encode(raw).decode())


@pytest.mark.parametrize("scheme", [SignatureScheme.SECP256K1, SignatureScheme.SECP256R1], ids=str)
@pytest.mark.parametrize("which", ["r=0", "s=0", "r=n", "s=n"])
def test_ecdsa_scalars_out_of_range(scheme, which):
    key = Keypair.generate(scheme)
    _, signature, public_key = _split(key.sign_personal_message(b"m"))
    r, s = signature[:32], signature[32:]
    order = ORDERS[scheme].to_bytes(32, "big")
    r, s = {"r=0": (bytes(32), s), "s=0": (r, bytes(32)), "r=n": (order, s), "s=n": (r, order)}[which]
    with pytest.raises(SignatureError, match="out of range"):
        verify_personal_message(b"m", _join(scheme, r + s, public_key))


@pytest.mark.parametrize("scheme", [SignatureScheme.SECP256K1, SignatureScheme.SECP256R1], ids=str)
def test_ecdsa_public_key_must_be_a_compressed_curve_point(scheme):
    key = Keypair.generate(scheme)
    _, signature, public_key = _split(key.sign_personal_message(b"m"))
    with pytest.raises(SignatureError, match="compressed point"):
        verify_personal_message(b"m", _join(scheme, signature, b"\x04" + public_key[1:]))
    # About half of all x values have no point on the curve: try small ones until one is rejected.
    for x in range(1, 64):
        candidate = b"\x02" + x.to_bytes(32, "big")
        try:
            verify_personal_message(b"m", _join(scheme, signature, candidate))
        except SignatureError as error:
            if "not a valid curve point" in str(error):
                return
    pytest.fail("no off-curve x found")


def test_ed25519_public_key_that_is_not_a_point():
    key = Keypair.generate(SignatureScheme.ED25519)
    _, signature, _ = _split(key.sign_personal_message(b"m"))
    # y = 2 is not the y coordinate of any Ed25519 point.
    bad = (2).to_bytes(32, "little")
    with pytest.raises(SignatureError, match="Ed25519"):
        verify_personal_message(b"m", _join(0, signature, bad))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0x1", "0x" + "0" * 63 + "1"),
        ("0x0", "0x" + "0" * 64),
        ("0xABCdef", "0x" + "0" * 58 + "abcdef"),
        ("0x" + "f" * 64, "0x" + "f" * 64),
    ],
)
def test_normalize_address(text, expected):
    assert normalize_address(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "start with 0x"),
        ("1234", "start with 0x"),
        ("0X12", "start with 0x"),
        ("0x", "hex digits after 0x"),
        ("0x" + "1" * 65, "at most 64"),
        ("0xg1", "only hex digits"),
        ("0x12 ", "only hex digits"),
        (" 0x12", "start with 0x"),
    ],
)
def test_normalize_address_rejects(text, reason):
    with pytest.raises(AddressError, match=reason):
        normalize_address(text)


def test_errors_are_user_errors_and_value_errors():
    for error in (SignatureError, AddressError):
        assert issubclass(error, UserError)
        assert issubclass(error, ValueError)
    assert issubclass(AddressError, SignatureError)


@pytest.mark.parametrize(("scheme", "length"), [(SignatureScheme.ED25519, 33), (SignatureScheme.SECP256K1, 32)])
def test_address_from_public_key_checks_length(scheme, length):
    with pytest.raises(SignatureError, match="public key must be"):
        address_from_public_key(scheme, bytes(length))


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=str)
@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_from_secret_wrong_length(scheme, length):
    with pytest.raises(SignatureError, match=f"must be 32 bytes, got {length}"):
        Keypair.from_secret(scheme, bytes(length))


@pytest.mark.parametrize("scheme", [SignatureScheme.SECP256K1, SignatureScheme.SECP256R1], ids=str)
def test_from_secret_rejects_invalid_scalar(scheme):
    for secret in (bytes(32), ORDERS[scheme].to_bytes(32, "big"), b"\xff" * 32):
        with pytest.raises(SignatureError, match="not a valid scalar"):
            Keypair.from_secret(scheme, secret)


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=str)
def test_keypair_never_shows_its_secret(scheme):
    key = Keypair.generate(scheme)
    secret = key.secret_bytes()
    for text in (repr(key), str(key)):
        assert secret.hex() not in text
        assert repr(secret) not in text
        assert base64.b64encode(secret).decode() not in text
        assert key.address in text


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=str)
def test_keypair_round_trips_and_is_immutable(scheme):
    key = Keypair.generate(scheme)
    again = Keypair.from_secret(scheme, key.secret_bytes())
    assert again == key
    assert hash(again) == hash(key)
    assert again != Keypair.generate(scheme)
    with pytest.raises(AttributeError):
        key.address = "0x1"  # type: ignore[misc]


def test_unknown_scheme_for_keys():
    with pytest.raises(SignatureError, match="unknown signature scheme 7"):
        Keypair.from_secret(7, bytes(32))  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="unknown signature scheme 3"):
        Keypair.generate(3)  # type: ignore[arg-type]


def test_sign_digest_takes_only_a_digest():
    key = Keypair.generate(SignatureScheme.ED25519)
    with pytest.raises(SignatureError, match="32 bytes, got 5"):
        key.sign_digest(b"hello")
    assert len(key.sign_digest(personal_message_digest(b"hello"))) == 64
