"""Development attestation: same format and verifier, refused unless explicitly allowed."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys

import pytest
from cryptography import x509
from enclave_testing import NOW_MS, TestPki

from k3s_daas.enclave import devmode
from k3s_daas.enclave.attestation import Policy, verify_attestation
from k3s_daas.enclave.cose import CoseSign1
from k3s_daas.enclave.document import AttestationDocument
from k3s_daas.enclave.errors import DevModeNotAllowed, MalformedAttestation, PcrMismatch, UntrustedRoot
from k3s_daas.enclave.pki import derived_key, issue_certificate, name
from k3s_daas.enclave.roots import AWS_NITRO_ROOT_G1_SHA256, aws_nitro_root

KEY = bytes(range(32))
DEV_IMAGE = {i: devmode.DEV_PCRS[i] for i in (0, 1, 2)}


def attestor_at(now_ms: int) -> devmode.DevAttestor:
    return devmode.DevAttestor(clock_ms=lambda: now_ms)


def test_development_document_has_the_nsm_structure_and_says_what_it_is() -> None:
    document = attestor_at(NOW_MS).attest(public_key=KEY, nonce=b"n", user_data=b"u")
    parsed = AttestationDocument.parse(CoseSign1.decode(document).payload)
    assert parsed.module_id == devmode.DEV_MODULE_ID == "k3s-daas-dev"
    assert parsed.timestamp_ms == NOW_MS
    assert parsed.pcrs == devmode.DEV_PCRS
    assert (parsed.public_key, parsed.nonce, parsed.user_data) == (KEY, b"n", b"u")
    root = x509.load_der_x509_certificate(parsed.cabundle[0])
    assert "no TEE" in root.subject.rfc4514_string()
    leaf = x509.load_der_x509_certificate(parsed.certificate)
    assert "no TEE" in leaf.subject.rfc4514_string()
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(hours=3, minutes=1)


def test_development_document_is_refused_unless_allowed() -> None:
    document = attestor_at(NOW_MS).attest(public_key=KEY)
    with pytest.raises(DevModeNotAllowed, match="development attestation"):
        verify_attestation(document, Policy(expected_pcrs=DEV_IMAGE), now_ms=NOW_MS)
    # Even a verifier with its own production roots recognises (and refuses) development documents.
    with pytest.raises(DevModeNotAllowed):
        verify_attestation(document, TestPki().policy(expected_pcrs=DEV_IMAGE), now_ms=NOW_MS)
    verified = verify_attestation(document, Policy(expected_pcrs=DEV_IMAGE, allow_dev=True), now_ms=NOW_MS)
    assert verified.dev_mode
    assert verified.to_json()["dev_mode"] is True
    assert verified.public_key == KEY


def test_development_pcrs_are_published_constants() -> None:
    for index in (0, 1, 2):
        assert devmode.DEV_PCRS[index] == hashlib.sha384(f"k3s-daas-dev PCR{index}".encode()).digest()
    assert all(devmode.DEV_PCRS[index] == bytes(48) for index in range(3, 16))
    document = attestor_at(NOW_MS).attest(public_key=KEY)
    with pytest.raises(PcrMismatch):
        verify_attestation(document, Policy(expected_pcrs={0: bytes(48)}, allow_dev=True), now_ms=NOW_MS)


def test_development_root_must_label_its_documents() -> None:
    # A document under the development root that pretends to come from an EC2 instance.
    root = devmode._root_issued()
    intermediate = issue_certificate(root, name("i"), *_validity(), path_length=0)
    leaf = issue_certificate(intermediate, name("l"), *_validity(), path_length=None, ca=False)
    pki = TestPki()
    pki.root, pki.chain, pki.leaf = root, [intermediate], leaf
    document = pki.document(module_id="i-0123456789abcdef0-enc0123456789abcdef", pcrs=devmode.DEV_PCRS)
    with pytest.raises(MalformedAttestation, match="k3s-daas-dev"):
        verify_attestation(document, Policy(allow_dev=True, expected_pcrs=DEV_IMAGE), now_ms=NOW_MS)


def _validity() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.fromtimestamp(NOW_MS / 1000, dt.UTC)
    return now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)


def test_development_root_is_deterministic_and_pinned() -> None:
    root = devmode.dev_root()
    assert root.dev_mode
    assert root.sha256 == devmode.DEV_ROOT_SHA256
    assert root.sha256 != AWS_NITRO_ROOT_G1_SHA256
    assert not aws_nitro_root().dev_mode
    # Rebuilt in a fresh interpreter: byte-identical (RFC 6979 signature, fixed serial and dates).
    code = "from k3s_daas.enclave import devmode; print(devmode.dev_root().sha256)"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == devmode.DEV_ROOT_SHA256
    # Its key is the one derived from the public label: development documents prove nothing.
    derived = derived_key(devmode._ROOT_LABEL).public_key()
    assert derived == root.certificate.public_key()


def test_changed_development_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    devmode.dev_root.cache_clear()
    monkeypatch.setattr(devmode, "DEV_ROOT_SHA256", "00" * 32)
    try:
        with pytest.raises(Exception, match="development root was rebuilt"):
            devmode.dev_root()
    finally:
        devmode.dev_root.cache_clear()


def test_intermediate_is_renewed_before_it_could_outlive_a_document_certificate() -> None:
    now = [NOW_MS]
    attestor = devmode.DevAttestor(clock_ms=lambda: now[0])
    first = AttestationDocument.parse(CoseSign1.decode(attestor.attest(public_key=KEY)).payload).cabundle[1]
    now[0] += 10 * 24 * 3600 * 1000
    same = AttestationDocument.parse(CoseSign1.decode(attestor.attest(public_key=KEY)).payload).cabundle[1]
    assert same == first
    now[0] += 20 * 24 * 3600 * 1000 - 3600 * 1000  # 1 hour before it expires: too close
    document = attestor.attest(public_key=KEY)
    renewed = AttestationDocument.parse(CoseSign1.decode(document).payload).cabundle[1]
    assert renewed != first
    verify_attestation(document, Policy(expected_pcrs=DEV_IMAGE, allow_dev=True), now_ms=now[0])


def test_development_document_verifies_with_the_aws_policy_roots_too() -> None:
    # The production roots of the default policy do not change how a development document fails.
    document = attestor_at(NOW_MS).attest(public_key=KEY)
    with pytest.raises(UntrustedRoot):
        verify_attestation(document, Policy(expected_pcrs=DEV_IMAGE), now_ms=NOW_MS)
