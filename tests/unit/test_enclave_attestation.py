"""The verifier on documents built under a test root: each check, and each way to fail it.

The documents are re-signed after every change, so each test isolates one check: the COSE
signature is valid unless the test is about the signature.
"""

from __future__ import annotations

import datetime as dt

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from enclave_testing import ENCLAVE_KEY, NOW, NOW_MS, PCRS, TestPki, flip, ms

from k3s_daas.enclave.attestation import verify_attestation
from k3s_daas.enclave.errors import (
    AttestationError,
    CertificateChainInvalid,
    CertificateNotValidAtTime,
    MalformedAttestation,
    MissingPublicKey,
    NonceMismatch,
    PcrMismatch,
    SignatureInvalid,
    StaleAttestation,
    UntrustedRoot,
)
from k3s_daas.enclave.pki import issue_certificate, name


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


def test_a_good_document_verifies(pki: TestPki) -> None:
    verified = verify_attestation(pki.document(nonce=b"n0nce"), pki.policy(nonce=b"n0nce"), now_ms=NOW_MS)
    assert verified.public_key == ENCLAVE_KEY
    assert not verified.dev_mode
    assert verified.root.name == "test root"
    assert verified.to_json()["nonce"] == b"n0nce".hex()


def test_every_reason_is_distinct() -> None:
    classes = [
        MalformedAttestation,
        SignatureInvalid,
        CertificateChainInvalid,
        CertificateNotValidAtTime,
        UntrustedRoot,
        StaleAttestation,
        NonceMismatch,
        PcrMismatch,
        MissingPublicKey,
    ]
    assert len({c.reason for c in classes}) == len(classes)
    assert all(issubclass(c, AttestationError) for c in classes)


# === COSE signature ===


def test_payload_byte_flip_fails(pki: TestPki) -> None:
    document = pki.document()
    position = document.find(ENCLAVE_KEY)
    with pytest.raises(SignatureInvalid):
        verify_attestation(flip(document, position), pki.policy(), now_ms=NOW_MS)


def test_signature_flip_fails(pki: TestPki) -> None:
    document = pki.document()
    with pytest.raises(SignatureInvalid):
        verify_attestation(flip(document, len(document) - 1), pki.policy(), now_ms=NOW_MS)


def test_signed_by_another_key_fails(pki: TestPki) -> None:
    with pytest.raises(SignatureInvalid):
        verify_attestation(pki.document(signer=ec.generate_private_key(ec.SECP384R1())), pki.policy(), now_ms=NOW_MS)


# === certificate chain ===


def test_wrong_root_fails(pki: TestPki) -> None:
    with pytest.raises(UntrustedRoot):
        verify_attestation(pki.document(), TestPki().policy(), now_ms=NOW_MS)


def test_default_policy_trusts_only_aws(pki: TestPki) -> None:
    with pytest.raises(UntrustedRoot, match="not a pinned root"):
        verify_attestation(pki.document(), now_ms=NOW_MS)


def test_bundle_without_the_root_still_chains_to_the_pinned_root(pki: TestPki) -> None:
    # Sui accepts a bundle whose top certificate is signed by the pinned root; so do we.
    document = pki.document(cabundle=tuple(ca.der for ca in pki.chain))
    verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_missing_intermediate_fails(pki: TestPki) -> None:
    document = pki.document(cabundle=(pki.root.der, pki.chain[0].der, pki.chain[2].der))
    with pytest.raises(CertificateChainInvalid, match="names issuer"):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_forged_intermediate_with_the_right_name_fails(pki: TestPki) -> None:
    impostor = issue_certificate(pki.chain[1], name("instance"), pki.start, pki.end, path_length=0)
    leaf = issue_certificate(impostor, name("enclave"), pki.leaf_start, pki.leaf_end, path_length=None, ca=False)
    document = pki.document(
        signer=leaf.key,
        certificate=leaf.der,
        cabundle=(pki.root.der, pki.chain[0].der, pki.chain[1].der, pki.chain[2].der),
    )
    with pytest.raises(CertificateChainInvalid, match="does not verify"):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_issuer_that_is_not_a_ca_fails(pki: TestPki) -> None:
    not_ca = issue_certificate(pki.chain[2], name("not a ca"), pki.start, pki.end, path_length=None, ca=False)
    leaf = issue_certificate(not_ca, name("enclave"), pki.leaf_start, pki.leaf_end, path_length=None, ca=False)
    document = pki.document(
        signer=leaf.key, certificate=leaf.der, cabundle=(pki.root.der, *(c.der for c in pki.chain), not_ca.der)
    )
    with pytest.raises(CertificateChainInvalid, match="not a CA"):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_path_length_violation_fails(pki: TestPki) -> None:
    # One more CA below the instance CA, whose path length is 0.
    extra = issue_certificate(pki.chain[2], name("extra"), pki.start, pki.end, path_length=None)
    leaf = issue_certificate(extra, name("enclave"), pki.leaf_start, pki.leaf_end, path_length=None, ca=False)
    document = pki.document(
        signer=leaf.key, certificate=leaf.der, cabundle=(pki.root.der, *(c.der for c in pki.chain), extra.der)
    )
    with pytest.raises(CertificateChainInvalid, match="allows 0 CA certificates"):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_too_long_a_chain_fails(pki: TestPki) -> None:
    document = pki.document(cabundle=(pki.root.der,) * 10)
    with pytest.raises(CertificateChainInvalid, match="at most 10"):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_garbage_certificate_fails(pki: TestPki) -> None:
    document = pki.document(cabundle=(pki.root.der, b"\x30\x03\x02\x01\x01"))
    with pytest.raises(CertificateChainInvalid, match="not a DER"):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_expired_document_certificate_fails() -> None:
    pki = TestPki(leaf_start=NOW - dt.timedelta(hours=4), leaf_end=NOW - dt.timedelta(hours=1))
    # Valid when the document was made, expired now: both times are checked.
    document = pki.document(timestamp_ms=ms(NOW - dt.timedelta(hours=2)))
    with pytest.raises(CertificateNotValidAtTime, match="enclave"):
        verify_attestation(document, pki.policy(max_age_ms=None), now_ms=NOW_MS)


def test_document_dated_outside_its_certificate_fails() -> None:
    pki = TestPki(leaf_start=NOW - dt.timedelta(minutes=5))
    document = pki.document(timestamp_ms=ms(NOW - dt.timedelta(minutes=6)))
    with pytest.raises(CertificateNotValidAtTime):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_expired_intermediate_fails() -> None:
    pki = TestPki(start=NOW - dt.timedelta(days=10), end=NOW - dt.timedelta(seconds=1))
    with pytest.raises(CertificateNotValidAtTime):
        verify_attestation(pki.document(), pki.policy(), now_ms=NOW_MS)


def test_not_yet_valid_chain_fails() -> None:
    pki = TestPki(start=NOW + dt.timedelta(minutes=1), leaf_start=NOW + dt.timedelta(minutes=1))
    with pytest.raises(CertificateNotValidAtTime):
        verify_attestation(pki.document(), pki.policy(), now_ms=NOW_MS)


# === freshness, nonce, PCRs, key ===


def test_stale_document_fails(pki: TestPki) -> None:
    document = pki.document(timestamp_ms=NOW_MS - 300_001)
    verify_attestation(document, pki.policy(max_age_ms=300_001), now_ms=NOW_MS)
    with pytest.raises(StaleAttestation, match=r"300\.0 s old"):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_future_document_fails(pki: TestPki) -> None:
    document = pki.document(timestamp_ms=NOW_MS + 60_001)
    with pytest.raises(StaleAttestation, match="future"):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


def test_nonce_mismatch_fails(pki: TestPki) -> None:
    with pytest.raises(NonceMismatch):
        verify_attestation(pki.document(nonce=b"old"), pki.policy(nonce=b"new"), now_ms=NOW_MS)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_image_pcr_is_compared(pki: TestPki, index: int) -> None:
    other = {**PCRS, index: b"\xee" * 48}
    with pytest.raises(PcrMismatch, match=f"PCR{index} is eeee"):
        verify_attestation(pki.document(pcrs=other), pki.policy(), now_ms=NOW_MS)


def test_all_pcr_mismatches_are_reported_together(pki: TestPki) -> None:
    expected = {0: b"\x01" * 48, 1: b"\x02" * 48, 2: b"\x03" * 48}
    document = pki.document(pcrs={**PCRS, 0: b"\x09" * 48, 2: b"\x09" * 48})
    with pytest.raises(PcrMismatch, match=r"PCR0 .*; PCR2 "):
        verify_attestation(document, pki.policy(expected_pcrs=expected), now_ms=NOW_MS)


def test_missing_or_wrong_size_public_key_fails(pki: TestPki) -> None:
    with pytest.raises(MissingPublicKey, match="no public key"):
        verify_attestation(pki.document(public_key=None), pki.policy(), now_ms=NOW_MS)
    with pytest.raises(MissingPublicKey, match="97-byte"):
        verify_attestation(pki.document(public_key=b"\x04" * 97), pki.policy(), now_ms=NOW_MS)
    verify_attestation(pki.document(public_key=None), pki.policy(require_public_key=False), now_ms=NOW_MS)


def test_check_order_signature_before_policy(pki: TestPki) -> None:
    # A stale document with wrong PCRs and a broken signature is refused for its signature.
    document = pki.document(timestamp_ms=NOW_MS - 10**7, pcrs={**PCRS, 0: b"\x09" * 48})
    with pytest.raises(SignatureInvalid):
        verify_attestation(flip(document, len(document) - 1), pki.policy(), now_ms=NOW_MS)


# === malformed payloads (validly signed) ===


def _payload(pki: TestPki, **changes: object) -> bytes:
    fields = cbor2.loads(pki.payload().encode())
    for key, value in changes.items():
        if value is _DELETE:
            del fields[key]
        else:
            fields[key] = value
    return cbor2.dumps(fields)


_DELETE = object()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"module_id": _DELETE}, "module_id"),
        ({"module_id": ""}, "module_id is empty"),
        ({"module_id": 7}, "module_id"),
        ({"digest": "SHA256"}, "digest"),
        ({"timestamp": 0}, "timestamp"),
        ({"timestamp": -5}, "timestamp"),
        ({"timestamp": "now"}, "timestamp"),
        ({"pcrs": {}}, "pcrs"),
        ({"pcrs": {0: b"\x00" * 47, 1: b"", 2: b"", 3: b"", 4: b"", 8: b""}}, "PCR0 must be"),
        ({"pcrs": {"0": b"\x00" * 48}}, "PCR index"),
        ({"pcrs": {0: b"\x00" * 48, 1: b"\x00" * 48, 2: b"\x00" * 48}}, "lacks PCR3, PCR4, PCR8"),
        ({"certificate": _DELETE}, "certificate"),
        ({"certificate": b""}, "certificate"),
        ({"cabundle": []}, "cabundle"),
        ({"cabundle": [b"x" * 1025]}, "cabundle"),
        ({"public_key": b""}, "public_key"),
        ({"user_data": "text"}, "user_data"),
        ({"nonce": b"n" * 1025}, "nonce"),
        ({"extra": 1}, "unknown fields: extra"),
    ],
)
def test_malformed_payload_fails(pki: TestPki, changes: dict[str, object], message: str) -> None:
    document = pki.document(_payload(pki, **changes))
    with pytest.raises(MalformedAttestation, match=message):
        verify_attestation(document, pki.policy(), now_ms=NOW_MS)


@pytest.mark.parametrize("payload", [cbor2.dumps([1, 2]), b"\xa1", cbor2.dumps({"module_id": "x"}) + b"\x00"])
def test_payload_that_is_not_one_cbor_map_fails(pki: TestPki, payload: bytes) -> None:
    with pytest.raises(MalformedAttestation):
        verify_attestation(pki.document(payload), pki.policy(), now_ms=NOW_MS)


def test_null_optional_fields_mean_absent(pki: TestPki) -> None:
    # The NSM writes null for what it was not given (see the recorded documents).
    document = pki.document(_payload(pki, user_data=None, nonce=None))
    assert verify_attestation(document, pki.policy(), now_ms=NOW_MS).document.nonce is None
