"""Why an attestation document or an enclave signature was refused.

Every refusal is a subclass of :class:`AttestationError` with a stable ``reason`` (for JSON output,
metrics and logs) and a message that says what was wrong. The classes follow the order in which a
document is checked, so a caller can tell "not a Nitro document at all" from "a genuine document
of the wrong enclave".

Sui's native verifier (``sui::nitro_attestation::load_nitro_attestation``) has two failure codes:
``EParseError`` for everything :class:`MalformedAttestation` covers and ``EVerifyError`` for the
signature and certificate checks (:class:`AttestationVerifyError` and its subclasses). The policy
checks after that (freshness, nonce, PCRs, public key) are the caller's own, and so is the last
one a verifier makes: that the attested key is registered on chain (:class:`RegistrationError`).
"""

from __future__ import annotations

from typing import ClassVar

from k3s_daas.errors import UserError

__all__ = [
    "AttestationError",
    "AttestationVerifyError",
    "CertificateChainInvalid",
    "CertificateNotValidAtTime",
    "ConfigPcrMismatch",
    "DevModeNotAllowed",
    "EnclaveSignatureError",
    "MalformedAttestation",
    "MissingPublicKey",
    "NonceMismatch",
    "NotConfigured",
    "OutdatedRegistration",
    "PcrMismatch",
    "RegistrationError",
    "SignatureInvalid",
    "StaleAttestation",
    "UntrustedRoot",
]


class AttestationError(UserError):
    """An attestation document that must not be trusted; ``reason`` names the failed check."""

    reason: ClassVar[str] = "attestation_error"


class MalformedAttestation(AttestationError):
    """Not a well-formed Nitro attestation document (CBOR, COSE_Sign1 or a payload field)."""

    reason = "malformed"


class AttestationVerifyError(AttestationError):
    """Well formed, but the signature or the certificate chain does not hold."""

    reason = "verify_failed"


class SignatureInvalid(AttestationVerifyError):
    """The COSE_Sign1 signature does not verify with the document's certificate."""

    reason = "signature_invalid"


class CertificateChainInvalid(AttestationVerifyError):
    """A certificate does not chain to the next one (issuer, signature, CA constraints, length)."""

    reason = "chain_invalid"


class CertificateNotValidAtTime(CertificateChainInvalid):
    """A certificate of the chain is expired or not yet valid at a time the check requires."""

    reason = "certificate_not_valid_at_time"


class UntrustedRoot(CertificateChainInvalid):
    """The chain does not end at a pinned root (the AWS Nitro Enclaves root G1)."""

    reason = "untrusted_root"


class DevModeNotAllowed(UntrustedRoot):
    """A K3s-DaaS development attestation (no TEE behind it) where a real one is required."""

    reason = "dev_mode_not_allowed"


class StaleAttestation(AttestationError):
    """The document is older than the allowed age, or dated too far in the future."""

    reason = "stale"


class NonceMismatch(AttestationError):
    """The document does not carry the nonce the verifier sent."""

    reason = "nonce_mismatch"


class PcrMismatch(AttestationError):
    """A PCR is missing or differs from the expected value: another enclave image."""

    reason = "pcr_mismatch"


class MissingPublicKey(AttestationError):
    """The document binds no public key (or not an Ed25519 one), so it attests no enclave key."""

    reason = "missing_public_key"


class RegistrationError(AttestationError):
    """The attested enclave key is not registered on chain (no ``enclave::Enclave`` holds it)."""

    reason = "not_registered"


class OutdatedRegistration(RegistrationError):
    """The key is registered, but under a configuration version the PCRs have since replaced."""

    reason = "registration_outdated"


class ConfigPcrMismatch(RegistrationError):
    """The chain's ``EnclaveConfig`` expects other PCRs than the verifier does."""

    reason = "config_pcr_mismatch"


class NotConfigured(RegistrationError):
    """The chain's ``EnclaveConfig`` has no PCRs yet (version 0): no enclave can be registered."""

    reason = "chain_not_configured"


class EnclaveSignatureError(UserError):
    """An enclave-signed message whose Ed25519 signature does not verify."""
