"""The verifier on real AWS Nitro attestation documents (tests/vectors/nitro/recorded.json).

Both documents were produced by real Nitro enclaves and are copied byte for byte from public test
code (Mysten's Nautilus and the Sui framework). They verify at the clock time of their source
test; every tampered variant must fail, for the right reason.
"""

from __future__ import annotations

import random

import cbor2
import pytest
from cryptography import x509
from enclave_testing import RECORDED, flip, recorded, recose

from k3s_daas.enclave.attestation import Policy, load_nitro_attestation, verify_attestation
from k3s_daas.enclave.cose import CoseSign1
from k3s_daas.enclave.document import AttestationDocument
from k3s_daas.enclave.errors import (
    AttestationError,
    AttestationVerifyError,
    CertificateNotValidAtTime,
    MalformedAttestation,
    MissingPublicKey,
    NonceMismatch,
    PcrMismatch,
    SignatureInvalid,
    StaleAttestation,
    UntrustedRoot,
)
from k3s_daas.enclave.roots import AWS_NITRO_ROOT_G1_SHA256, TrustedRoot, fingerprint

WEATHER, WEATHER_AT, WEATHER_EXPECT = recorded("nautilus_weather")
DEBUG, DEBUG_AT, DEBUG_EXPECT = recorded("sui_framework_debug_mode")
WEATHER_PCRS = {int(i): bytes.fromhex(v) for i, v in WEATHER_EXPECT["pcrs"].items()}
HISTORICAL = Policy(max_age_ms=None)


def weather_policy(**overrides: object) -> Policy:
    base: dict[str, object] = {"expected_pcrs": WEATHER_PCRS, "max_age_ms": None}
    base.update(overrides)
    return Policy(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(RECORDED["documents"]))
def test_recorded_document_parses_to_its_published_fields(name: str) -> None:
    document, _, expect = recorded(name)
    parsed = AttestationDocument.parse(CoseSign1.decode(document).payload)
    assert parsed.module_id == expect["module_id"]
    assert parsed.timestamp_ms == expect["timestamp_ms"]
    assert parsed.digest == "SHA384"
    assert sorted(parsed.pcrs) == list(range(16))
    for index, value in expect["pcrs"].items():
        assert parsed.pcrs[int(index)].hex() == value
    for key in ("public_key", "user_data", "nonce"):
        value = getattr(parsed, key)
        assert (None if value is None else value.hex()) == expect[key]
    leaf = x509.load_der_x509_certificate(parsed.certificate)
    assert int(leaf.not_valid_before_utc.timestamp() * 1000) == expect["certificate_not_before_ms"]
    assert int(leaf.not_valid_after_utc.timestamp() * 1000) == expect["certificate_not_after_ms"]
    # AWS's bundle order: the root first, and it is the pinned AWS root.
    assert fingerprint(x509.load_der_x509_certificate(parsed.cabundle[0])) == AWS_NITRO_ROOT_G1_SHA256
    assert len(parsed.cabundle) == 4


def test_nautilus_document_verifies_with_its_pcrs_and_binds_the_enclave_key() -> None:
    verified = verify_attestation(WEATHER, weather_policy(), now_ms=WEATHER_AT)
    assert not verified.dev_mode
    assert verified.root.sha256 == AWS_NITRO_ROOT_G1_SHA256
    assert verified.public_key is not None
    assert verified.public_key.hex() == WEATHER_EXPECT["public_key"]
    assert verified.to_json()["pcrs"]["2"] == WEATHER_EXPECT["pcrs"]["2"]


def test_debug_mode_document_is_genuine_but_attests_no_key_and_no_image() -> None:
    # An enclave run with --debug-mode reports all-zero PCR0-2: genuine, but of no image.
    verified = verify_attestation(DEBUG, Policy(max_age_ms=None, require_public_key=False), now_ms=DEBUG_AT)
    assert verified.document.user_data is not None
    with pytest.raises(MissingPublicKey, match="no public key"):
        verify_attestation(DEBUG, HISTORICAL, now_ms=DEBUG_AT)
    with pytest.raises(PcrMismatch, match="PCR0 is 0000"):
        verify_attestation(DEBUG, weather_policy(require_public_key=False), now_ms=DEBUG_AT)


@pytest.mark.parametrize("name", sorted(RECORDED["documents"]))
def test_sui_load_semantics_accept_recorded_documents_at_their_clock(name: str) -> None:
    document, at, expect = recorded(name)
    assert load_nitro_attestation(document, at).timestamp_ms == expect["timestamp_ms"]


@pytest.mark.parametrize("name", sorted(RECORDED["documents"]))
def test_certificate_validity_is_inclusive_whole_seconds_as_on_sui(name: str) -> None:
    document, _, expect = recorded(name)
    start, end = expect["certificate_not_before_ms"], expect["certificate_not_after_ms"]
    load_nitro_attestation(document, start)
    load_nitro_attestation(document, end + 999)  # same second as notAfter: still valid
    with pytest.raises(CertificateNotValidAtTime):
        load_nitro_attestation(document, end + 1000)
    with pytest.raises(CertificateNotValidAtTime):
        load_nitro_attestation(document, start - 1)


def test_recorded_documents_have_expired_by_now() -> None:
    with pytest.raises(CertificateNotValidAtTime, match="not at"):
        verify_attestation(WEATHER, weather_policy())


# === Tampering with a real document ===


def _payload_offset(document: bytes, needle: bytes) -> int:
    position = document.find(needle)
    assert position > 0
    return position


def test_payload_byte_flip_breaks_the_signature() -> None:
    # Flip a bit inside PCR2's value: still a well-formed document, no longer the signed one.
    position = _payload_offset(WEATHER, bytes.fromhex(WEATHER_EXPECT["pcrs"]["2"])) + 10
    with pytest.raises(SignatureInvalid):
        verify_attestation(flip(WEATHER, position), weather_policy(), now_ms=WEATHER_AT)
    with pytest.raises(AttestationVerifyError):
        load_nitro_attestation(flip(WEATHER, position), WEATHER_AT)


def test_swapped_public_key_breaks_the_signature() -> None:
    position = _payload_offset(WEATHER, bytes.fromhex(WEATHER_EXPECT["public_key"]))
    with pytest.raises(SignatureInvalid):
        verify_attestation(flip(WEATHER, position + 31), weather_policy(), now_ms=WEATHER_AT)


@pytest.mark.parametrize("position", [-1, -48, -96])
def test_signature_byte_flip_fails(position: int) -> None:
    with pytest.raises(SignatureInvalid):
        verify_attestation(flip(WEATHER, len(WEATHER) + position), weather_policy(), now_ms=WEATHER_AT)


def test_cabundle_certificate_flip_fails_the_chain() -> None:
    # A bit in the regional certificate's signature (cabundle[1]): the chain no longer holds.
    regional = AttestationDocument.parse(CoseSign1.decode(WEATHER).payload).cabundle[1]
    position = _payload_offset(WEATHER, regional) + len(regional) - 5
    with pytest.raises(AttestationVerifyError):
        verify_attestation(flip(WEATHER, position), weather_policy(), now_ms=WEATHER_AT)


def test_wrong_root_fails() -> None:
    from enclave_testing import TestPki

    other = TestPki()
    with pytest.raises(UntrustedRoot, match="not a pinned root"):
        verify_attestation(WEATHER, weather_policy(roots=(other.trusted,)), now_ms=WEATHER_AT)


def test_pcr_mismatch_names_the_register() -> None:
    wrong = {**WEATHER_PCRS, 2: bytes(48)}
    with pytest.raises(PcrMismatch, match=r"PCR2 is 21b9.*expected 0000"):
        verify_attestation(WEATHER, weather_policy(expected_pcrs=wrong), now_ms=WEATHER_AT)
    with pytest.raises(PcrMismatch, match="PCR20 is missing"):
        verify_attestation(WEATHER, weather_policy(expected_pcrs={20: bytes(48)}), now_ms=WEATHER_AT)


def test_stale_and_future_documents_fail() -> None:
    age = WEATHER_AT - WEATHER_EXPECT["timestamp_ms"]  # 83.8 s at the source test's clock
    verify_attestation(WEATHER, weather_policy(max_age_ms=age), now_ms=WEATHER_AT)
    with pytest.raises(StaleAttestation, match="old"):
        verify_attestation(WEATHER, weather_policy(max_age_ms=age - 1), now_ms=WEATHER_AT)
    # The Sui framework's test clock is 2.1 s before its document's timestamp: tolerated skew.
    verify_attestation(DEBUG, Policy(require_public_key=False), now_ms=DEBUG_AT)
    with pytest.raises(StaleAttestation, match="future"):
        verify_attestation(DEBUG, Policy(require_public_key=False, max_future_ms=2000), now_ms=DEBUG_AT)


def test_nonce_required_but_absent_fails() -> None:
    with pytest.raises(NonceMismatch):
        verify_attestation(WEATHER, weather_policy(nonce=b"challenge"), now_ms=WEATHER_AT)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:-1], "CBOR"),
        (lambda d: d + b"\x00", "after its CBOR item"),
        (lambda d: b"", "empty"),
        (lambda d: bytes.fromhex("0000"), "CBOR"),
        (lambda d: cbor2.dumps(cbor2.loads(d)[:3]), "4 items"),
        (lambda d: cbor2.dumps(cbor2.CBORTag(98, cbor2.loads(d))), "tag 98"),
        (lambda d: recose(d, lambda c: CoseSign1(cbor2.dumps({1: -7}), c.payload, c.signature)), "ES384"),
        (lambda d: recose(d, lambda c: CoseSign1(c.protected, c.payload, c.signature[:64])), "96 bytes"),
        (lambda d: recose(d, lambda c: CoseSign1(c.protected, c.payload[:-1], c.signature)), "payload"),
    ],
)
def test_malformed_documents_fail_as_parse_errors(mutate: object, message: str) -> None:
    bad = mutate(WEATHER)  # type: ignore[operator]
    with pytest.raises(MalformedAttestation, match=message):
        verify_attestation(bad, weather_policy(), now_ms=WEATHER_AT)
    with pytest.raises(MalformedAttestation):
        load_nitro_attestation(bad, WEATHER_AT)


def test_tagged_cose_sign1_is_accepted() -> None:
    tagged = CoseSign1.decode(WEATHER).encode(tagged=True)
    assert tagged[0] == 0xD2  # CBOR tag 18
    verify_attestation(tagged, weather_policy(), now_ms=WEATHER_AT)


def test_aws_root_alone_is_what_sui_load_trusts() -> None:
    from enclave_testing import TestPki

    pki = TestPki()
    document = pki.document()
    with pytest.raises(UntrustedRoot):
        load_nitro_attestation(document, pki.payload().timestamp_ms)
    custom = TrustedRoot("test", pki.root.certificate)
    assert load_nitro_attestation(document, pki.payload().timestamp_ms, roots=(custom,)).public_key is not None


def test_random_corruption_is_always_a_typed_refusal() -> None:
    # Hostile bytes must never escape as another exception type (a parser or X.509 library error):
    # every single-bit flip, and random multi-byte corruption, is refused with an AttestationError.
    rng = random.Random(20260301)
    candidates = []
    for position in range(len(WEATHER)):
        candidates.append(flip(WEATHER, position) if position % 3 == 0 else None)
    for _ in range(300):
        corrupted = bytearray(WEATHER)
        for _ in range(rng.randrange(1, 8)):
            corrupted[rng.randrange(len(corrupted))] = rng.randrange(256)
        candidates.append(bytes(corrupted))
    refused = 0
    for candidate in candidates:
        if candidate is None or candidate == WEATHER:
            continue
        with pytest.raises(AttestationError):
            verify_attestation(candidate, weather_policy(), now_ms=WEATHER_AT)
        refused += 1
    assert refused > 1500
