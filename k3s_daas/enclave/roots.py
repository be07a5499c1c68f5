"""The pinned roots an attestation chain may end at.

The AWS Nitro Enclaves root G1 is public data, committed next to this module as
``aws_nitro_enclaves_root_g1.pem`` and checked against AWS's published SHA-256 fingerprint every
time it is loaded: a PEM edited by mistake (or on purpose) fails loudly instead of silently
trusting another CA. Source: https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip
(fingerprint published in "Verifying the root of trust", AWS Nitro Enclaves User Guide); the same
bytes are the first ``cabundle`` entry of every genuine attestation document.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from k3s_daas.enclave.errors import AttestationError

__all__ = ["AWS_NITRO_ROOT_G1_SHA256", "TrustedRoot", "aws_nitro_root", "fingerprint"]

AWS_NITRO_ROOT_G1_SHA256: Final = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
_AWS_ROOT_FILE: Final = "aws_nitro_enclaves_root_g1.pem"


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lowercase hex: how AWS publishes its root."""
    return certificate.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True, slots=True)
class TrustedRoot:
    """A root certificate a chain may end at. ``dev_mode`` marks a root with no TEE behind it."""

    name: str
    certificate: x509.Certificate
    dev_mode: bool = False

    @property
    def sha256(self) -> str:
        return fingerprint(self.certificate)


@functools.cache
def aws_nitro_root() -> TrustedRoot:
    """The AWS Nitro Enclaves root G1, its fingerprint checked."""
    pem = resources.files(__package__).joinpath(_AWS_ROOT_FILE).read_bytes()
    certificate = x509.load_pem_x509_certificate(pem)
    actual = fingerprint(certificate)
    if actual != AWS_NITRO_ROOT_G1_SHA256:
        raise AttestationError(
            f"the bundled AWS Nitro root certificate has SHA-256 {actual}, expected {AWS_NITRO_ROOT_G1_SHA256}: "
            f"{_AWS_ROOT_FILE} was altered"
        )
    return TrustedRoot(name="AWS Nitro Enclaves root G1", certificate=certificate)
