"""Issuing P-384 certificates shaped like the AWS Nitro attestation PKI.

Used by development mode (``devmode``) and by the tests that build documents under a test root.
AWS's chain is root -> regional -> zonal -> instance -> document certificate, each CA marked
critical ``CA:TRUE`` with a decreasing path length and the document certificate ``CA:FALSE``
with digital-signature key usage; the certificates here follow the same rules so the verifier's
chain checks run unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["Issued", "issue_certificate", "name", "self_signed_root"]

P384_ORDER: Final = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16
)


def name(common_name: str, organization: str = "K3s-DaaS") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def derived_key(label: bytes) -> ec.EllipticCurvePrivateKey:
    """A P-384 key derived from public text: only for keys that are meant to be public."""
    scalar = int.from_bytes(hashlib.sha384(label).digest(), "big") % (P384_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP384R1())


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePublicKey,
    serial: int,
    start: dt.datetime,
    end: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def self_signed_root(
    key: ec.EllipticCurvePrivateKey, subject: x509.Name, start: dt.datetime, end: dt.datetime, *, serial: int = 1
) -> Issued:
    """A root CA. Deterministic ECDSA (RFC 6979), so a derived key gives byte-identical roots."""
    certificate = (
        _builder(subject, subject, key.public_key(), serial, start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(key, hashes.SHA384(), ecdsa_deterministic=True)
    )
    return Issued(certificate=certificate, key=key)


def issue_certificate(
    issuer: Issued,
    subject: x509.Name,
    start: dt.datetime,
    end: dt.datetime,
    *,
    path_length: int | None,
    ca: bool = True,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> Issued:
    """A CA (``ca=True``, with ``path_length``) or a document certificate (``ca=False``) under ``issuer``."""
    subject_key = key or ec.generate_private_key(ec.SECP384R1())
    builder = _builder(
        subject, issuer.certificate.subject, subject_key.public_key(), x509.random_serial_number(), start, end
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        builder = builder.add_extension(_ca_usage(), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_leaf_usage(), critical=False)
    certificate = builder.sign(issuer.key, hashes.SHA384())
    return Issued(certificate=certificate, key=subject_key)
