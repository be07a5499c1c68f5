"""The pinned AWS Nitro Enclaves root G1: the committed PEM is AWS's certificate."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from k3s_daas.enclave import roots
from k3s_daas.enclave.errors import AttestationError

# Published by AWS ("Verifying the root of trust", AWS Nitro Enclaves User Guide).
PUBLISHED_SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"


def test_committed_pem_has_the_published_fingerprint() -> None:
    pem = resources.files("k3s_daas.enclave").joinpath("aws_nitro_enclaves_root_g1.pem").read_bytes()
    certificate = x509.load_pem_x509_certificate(pem)
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert hashlib.sha256(der).hexdigest() == PUBLISHED_SHA256 == roots.AWS_NITRO_ROOT_G1_SHA256
    assert certificate.subject.rfc4514_string() == "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US"
    assert certificate.not_valid_before_utc.isoformat() == "2019-10-28T13:28:05+00:00"
    assert certificate.not_valid_after_utc.isoformat() == "2049-10-28T14:28:05+00:00"
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca


def test_loaded_root_is_checked() -> None:
    root = roots.aws_nitro_root()
    assert root.sha256 == PUBLISHED_SHA256
    assert not root.dev_mode


def test_an_altered_root_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    roots.aws_nitro_root.cache_clear()
    monkeypatch.setattr(roots, "AWS_NITRO_ROOT_G1_SHA256", "00" * 32)
    try:
        with pytest.raises(AttestationError, match="was altered"):
            roots.aws_nitro_root()
    finally:
        roots.aws_nitro_root.cache_clear()
