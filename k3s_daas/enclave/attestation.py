"""Verification of an AWS Nitro attestation document, and what it attests.

``verify_attestation(document, policy)`` checks, in this order (the first failure decides):

1. shape: COSE_Sign1 with ES384 over a CBOR attestation document (:class:`MalformedAttestation`);
2. the COSE signature, with the key of the document's certificate (:class:`SignatureInvalid`);
3. the certificate chain up to a pinned root, every certificate valid both at the document's
   timestamp and now (:class:`CertificateChainInvalid` and subclasses). The development root is
   always recognised, so a development document is refused as such (:class:`DevModeNotAllowed`)
   unless the policy allows it;
4. freshness: not older than ``max_age_ms``, not dated more than ``max_future_ms`` ahead
   (:class:`StaleAttestation`);
5. the nonce, when the verifier sent one (:class:`NonceMismatch`);
6. every expected PCR (:class:`PcrMismatch`);
7. the bound public key: present and a raw 32-byte Ed25519 key, as Nautilus binds it
   (:class:`MissingPublicKey`).

``load_nitro_attestation(document, clock_ms)`` is steps 1-3 exactly as Sui's native function of
that name makes them (chain valid at the clock time only, AWS root only): what the chain accepts.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec

from k3s_daas.enclave import devmode
from k3s_daas.enclave.chain import CERTIFICATE_ERRORS, load_certificate, verify_chain
from k3s_daas.enclave.cose import CoseSign1
from k3s_daas.enclave.document import AttestationDocument
from k3s_daas.enclave.errors import (
    DevModeNotAllowed,
    MalformedAttestation,
    MissingPublicKey,
    NonceMismatch,
    PcrMismatch,
    SignatureInvalid,
    StaleAttestation,
)
from k3s_daas.enclave.roots import TrustedRoot, aws_nitro_root

__all__ = [
    "ED25519_PUBLIC_KEY_LENGTH",
    "Policy",
    "VerifiedAttestation",
    "load_nitro_attestation",
    "verify_attestation",
]

ED25519_PUBLIC_KEY_LENGTH: Final = 32
DEFAULT_MAX_AGE_MS: Final = 5 * 60 * 1000
DEFAULT_MAX_FUTURE_MS: Final = 60 * 1000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Policy:
    """What a verifier requires beyond a genuine document."""

    expected_pcrs: Mapping[int, bytes] = field(default_factory=dict)
    """PCR index -> exact value. Empty means "any enclave image" (only for inspection)."""
    max_age_ms: int | None = DEFAULT_MAX_AGE_MS
    """How old the document may be; ``None`` skips the check (recorded documents)."""
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS
    """Clock skew tolerated for a document dated after the verifier's clock."""
    nonce: bytes | None = None
    """When set, the document must carry exactly this nonce (the verifier's challenge)."""
    require_public_key: bool = True
    allow_dev: bool = False
    """Accept documents chained to the K3s-DaaS development root (no TEE behind them)."""
    roots: tuple[TrustedRoot, ...] | None = None
    """Production roots; ``None`` means the AWS Nitro Enclaves root G1."""


@dataclass(frozen=True, slots=True)
class VerifiedAttestation:
    """A document that passed a :class:`Policy`, and the root its chain ends at."""

    document: AttestationDocument
    root: TrustedRoot

    @property
    def dev_mode(self) -> bool:
        return self.root.dev_mode

    @property
    def public_key(self) -> bytes | None:
        return self.document.public_key

    @property
    def timestamp_ms(self) -> int:
        return self.document.timestamp_ms

    @property
    def pcrs(self) -> Mapping[int, bytes]:
        return self.document.pcrs

    def to_json(self) -> dict[str, Any]:
        document = self.document
        return {
            "dev_mode": self.dev_mode,
            "root": self.root.name,
            "root_sha256": self.root.sha256,
            "module_id": document.module_id,
            "timestamp_ms": document.timestamp_ms,
            "pcrs": {str(index): value.hex() for index, value in sorted(document.pcrs.items())},
            "public_key": None if document.public_key is None else document.public_key.hex(),
            "user_data": None if document.user_data is None else document.user_data.hex(),
            "nonce": None if document.nonce is None else document.nonce.hex(),
        }


def _authenticate(
    document: bytes, roots: Sequence[TrustedRoot], times_ms: Callable[[AttestationDocument], Sequence[int]]
) -> tuple[AttestationDocument, TrustedRoot]:
    cose = CoseSign1.decode(document)
    parsed = AttestationDocument.parse(cose.payload)
    certificate = load_certificate(parsed.certificate, "document certificate")
    try:
        key = certificate.public_key()
    except CERTIFICATE_ERRORS as error:
        raise SignatureInvalid(f"the document certificate's public key cannot be loaded: {error}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureInvalid("document certificate does not hold an elliptic-curve key")
    cose.verify(key)
    times_s = [moment // 1000 for moment in times_ms(parsed)]
    root = verify_chain(parsed.certificate, parsed.cabundle, roots, times_s)
    return parsed, root


def load_nitro_attestation(
    document: bytes, clock_ms: int, roots: Sequence[TrustedRoot] | None = None
) -> AttestationDocument:
    """Sui's ``load_nitro_attestation``: :class:`MalformedAttestation` is its ``EParseError``,
    :class:`~k3s_daas.enclave.errors.AttestationVerifyError` its ``EVerifyError``."""
    parsed, _ = _authenticate(document, roots or (aws_nitro_root(),), lambda _: (clock_ms,))
    return parsed


def _check_fresh(document: AttestationDocument, policy: Policy, now_ms: int) -> None:
    age = now_ms - document.timestamp_ms
    if policy.max_age_ms is not None and age > policy.max_age_ms:
        raise StaleAttestation(f"document is {age / 1000:.1f} s old, more than {policy.max_age_ms / 1000:.1f} s")
    if -age > policy.max_future_ms:
        raise StaleAttestation(
            f"document is dated {-age / 1000:.1f} s in the future, more than {policy.max_future_ms / 1000:.1f} s"
        )


def _check_pcrs(document: AttestationDocument, expected: Mapping[int, bytes]) -> None:
    problems = []
    for index, value in sorted(expected.items()):
        actual = document.pcrs.get(index)
        if actual is None:
            problems.append(f"PCR{index} is missing")
        elif not hmac.compare_digest(actual, value):
            problems.append(f"PCR{index} is {actual.hex()}, expected {value.hex()}")
    if problems:
        raise PcrMismatch("; ".join(problems))


def verify_attestation(
    document: bytes, policy: Policy | None = None, *, now_ms: int | None = None
) -> VerifiedAttestation:
    """Every check of the module docstring, in order; returns the verified document."""
    policy = policy or Policy()
    now = _now_ms() if now_ms is None else now_ms
    production = policy.roots or (aws_nitro_root(),)
    # The development root is always recognised, so that its documents are named as such.
    roots = (*production, devmode.dev_root())
    parsed, root = _authenticate(document, roots, lambda doc: (doc.timestamp_ms, now))
    if root.dev_mode:
        if not policy.allow_dev:
            raise DevModeNotAllowed(
                "this is a K3s-DaaS development attestation (no TEE behind it); allow development mode to accept it"
            )
        if parsed.module_id != devmode.DEV_MODULE_ID:
            raise MalformedAttestation(f"a development document must have module_id {devmode.DEV_MODULE_ID!r}")
    _check_fresh(parsed, policy, now)
    if policy.nonce is not None and (parsed.nonce is None or not hmac.compare_digest(parsed.nonce, policy.nonce)):
        raise NonceMismatch("document does not carry the nonce sent with the request (a replayed document?)")
    _check_pcrs(parsed, policy.expected_pcrs)
    if policy.require_public_key:
        if parsed.public_key is None:
            raise MissingPublicKey("document binds no public key, so it attests no enclave key")
        if len(parsed.public_key) != ED25519_PUBLIC_KEY_LENGTH:
            raise MissingPublicKey(
                f"document binds a {len(parsed.public_key)}-byte public key, not a raw "
                f"{ED25519_PUBLIC_KEY_LENGTH}-byte Ed25519 key"
            )
    return VerifiedAttestation(document=parsed, root=root)
