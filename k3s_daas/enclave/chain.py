"""The document certificate's chain up to a pinned root.

An attestation document carries its signing certificate and ``cabundle = [root, intermediate_1,
..., intermediate_n]``. The chain checked is ``certificate, intermediate_n, ..., intermediate_1,
root`` and it must end at one of the pinned roots: the top certificate of the bundle must be
issued, and signed, by the pinned root (a bundle that repeats the root byte for byte passes,
because the root signs itself). This is the walk Sui's native verifier makes, plus the
basic-constraints and key-usage checks AWS's validation guide asks for.

Validity is checked in whole seconds, inclusive at both ends, as Sui does (the certificate times
have one-second resolution).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from k3s_daas.enclave.errors import CertificateChainInvalid, CertificateNotValidAtTime, UntrustedRoot
from k3s_daas.enclave.roots import TrustedRoot

__all__ = ["MAX_CHAIN_LENGTH", "load_certificate", "verify_chain"]

# Sui's limit (leaf + bundle); a genuine chain has 5 certificates.
MAX_CHAIN_LENGTH: Final = 10

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)

# What cryptography raises for a certificate it parses lazily and finds broken or exotic (a bad
# version, an unknown curve, a malformed or duplicated extension): all mean "not a usable chain".
CERTIFICATE_ERRORS: Final = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


def load_certificate(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except CERTIFICATE_ERRORS as error:
        raise CertificateChainInvalid(f"{what} is not a DER X.509 certificate: {error}") from None


def _describe(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string() or "(empty subject)"


def _extension(certificate: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_issuer_constraints(issuer: x509.Certificate, cas_below: int) -> None:
    """``issuer`` may sign certificates, and sits no deeper than its path length allows."""
    constraints = _extension(issuer, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        raise CertificateChainInvalid(f"{_describe(issuer)} issues a certificate but is not a CA")
    if constraints.path_length is not None and cas_below > constraints.path_length:
        raise CertificateChainInvalid(
            f"{_describe(issuer)} allows {constraints.path_length} CA certificates below it, the chain has {cas_below}"
        )
    usage = _extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        raise CertificateChainInvalid(f"{_describe(issuer)} may not sign certificates (key usage)")


def _check_signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    try:
        certificate.verify_directly_issued_by(issuer)
    except ValueError:
        raise CertificateChainInvalid(
            f"{_describe(certificate)} names issuer {certificate.issuer.rfc4514_string()}, not {_describe(issuer)}"
        ) from None
    except (InvalidSignature, TypeError, UnsupportedAlgorithm):
        raise CertificateChainInvalid(f"signature of {_describe(certificate)} does not verify") from None


def _check_valid_at(certificate: x509.Certificate, times_s: Sequence[int]) -> None:
    start = int(certificate.not_valid_before_utc.timestamp())
    end = int(certificate.not_valid_after_utc.timestamp())
    for moment in times_s:
        if not start <= moment <= end:
            when = dt.datetime.fromtimestamp(moment, dt.UTC).isoformat()
            raise CertificateNotValidAtTime(
                f"{_describe(certificate)} is valid from {certificate.not_valid_before_utc.isoformat()} "
                f"to {certificate.not_valid_after_utc.isoformat()}, not at {when}"
            )


def _find_root(top: x509.Certificate, roots: Sequence[TrustedRoot]) -> TrustedRoot:
    for root in roots:
        if top.issuer != root.certificate.subject:
            continue
        try:
            top.verify_directly_issued_by(root.certificate)
        except (InvalidSignature, *CERTIFICATE_ERRORS):
            continue
        return root
    raise UntrustedRoot(f"the certificate chain ends at {top.issuer.rfc4514_string()}, which is not a pinned root")


def verify_chain(
    certificate: bytes, cabundle: Sequence[bytes], roots: Sequence[TrustedRoot], times_s: Sequence[int]
) -> TrustedRoot:
    """Checks the chain at every time in ``times_s`` (Unix seconds); returns the root it ends at."""
    try:
        return _verify_chain(certificate, cabundle, roots, times_s)
    except CERTIFICATE_ERRORS as error:
        raise CertificateChainInvalid(f"a certificate of the chain cannot be processed: {error}") from None


def _verify_chain(
    certificate: bytes, cabundle: Sequence[bytes], roots: Sequence[TrustedRoot], times_s: Sequence[int]
) -> TrustedRoot:
    if 1 + len(cabundle) > MAX_CHAIN_LENGTH:
        raise CertificateChainInvalid(
            f"certificate chain has {1 + len(cabundle)} certificates, at most {MAX_CHAIN_LENGTH}"
        )
    leaf = load_certificate(certificate, "document certificate")
    bundle = [load_certificate(der, f"cabundle[{i}]") for i, der in enumerate(cabundle)]
    chain = [leaf, *reversed(bundle)]
    root = _find_root(chain[-1], roots)
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise CertificateChainInvalid("the document certificate may not make signatures (key usage)")
    for position, current in enumerate(chain):
        if current == root.certificate:
            # The bundle repeats the pinned root: it is trusted by pinning, not by its self-signature.
            continue
        issuer = chain[position + 1] if position + 1 < len(chain) else root.certificate
        # The CA certificates strictly between the issuer and the leaf.
        _check_issuer_constraints(issuer, cas_below=position)
        _check_signed_by(current, issuer)
    for current in [*chain, root.certificate]:
        _check_valid_at(current, times_s)
    return root
