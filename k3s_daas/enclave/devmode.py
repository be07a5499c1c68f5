"""Development attestation: the NSM's document format without a TEE, and saying so.

Outside an AWS Nitro enclave there is no NSM device, so the webhook issues documents of exactly
the same structure (COSE_Sign1, ES384, the same payload fields) signed under the K3s-DaaS
development root instead of the AWS root. The same verifier code runs on both; what differs:

* the chain ends at the development root, which verifiers recognise (pinned fingerprint) and
  refuse unless development mode is explicitly allowed (``Policy(allow_dev=True)``,
  ``k3s-daas attest verify --allow-dev``);
* ``module_id`` is ``k3s-daas-dev`` (the verifier insists on it for development documents);
* the PCRs are the fixed, published :data:`DEV_PCRS`, not measurements of anything.

The development root's key is derived from a public label, so anybody can mint development
documents: that is the point. A development document proves nothing about what code runs; it
only exercises the protocol. Never allow development mode where the enclave matters.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from k3s_daas.enclave.cose import sign_es384
from k3s_daas.enclave.document import AttestationDocument
from k3s_daas.enclave.errors import AttestationError
from k3s_daas.enclave.pki import Issued, derived_key, issue_certificate, name, self_signed_root
from k3s_daas.enclave.roots import TrustedRoot

__all__ = ["DEV_MODULE_ID", "DEV_PCRS", "DEV_ROOT_SHA256", "DevAttestor", "dev_root"]

DEV_MODULE_ID: Final = "k3s-daas-dev"
DEV_ROOT_NAME: Final = "K3s-DaaS development root (no TEE)"
# The root is rebuilt from the label on every start; the fingerprint pins the result, so a change
# in how it is built (or in the library building it) is noticed rather than silently re-rooted.
DEV_ROOT_SHA256: Final = "8b9d31730a0d5836b2e6af2739e4edb0725f1e747dfa020a3af11fc1bec94b89"
_ROOT_LABEL: Final = b"k3s-daas development attestation root; this key is public and attests nothing"
_ROOT_VALIDITY: Final = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2055, 1, 1, tzinfo=dt.UTC))
_INTERMEDIATE_LIFETIME: Final = dt.timedelta(days=30)
_DOCUMENT_CERTIFICATE_LIFETIME: Final = dt.timedelta(hours=3)  # as the NSM's (about 3 hours)
_BACKDATE: Final = dt.timedelta(minutes=1)


def _dev_pcr(index: int) -> bytes:
    if index in (0, 1, 2):
        return hashlib.sha384(f"k3s-daas-dev PCR{index}".encode()).digest()
    return bytes(48)


DEV_PCRS: Final[Mapping[int, bytes]] = MappingProxyType({index: _dev_pcr(index) for index in range(16)})
"""PCR0-2 are SHA-384 of ``k3s-daas-dev PCR<n>``, the others zero, as in an NSM document."""


@functools.cache
def _root_issued() -> Issued:
    return self_signed_root(derived_key(_ROOT_LABEL), name(DEV_ROOT_NAME, "K3s-DaaS development mode"), *_ROOT_VALIDITY)


@functools.cache
def dev_root() -> TrustedRoot:
    root = TrustedRoot(name=DEV_ROOT_NAME, certificate=_root_issued().certificate, dev_mode=True)
    if root.sha256 != DEV_ROOT_SHA256:
        raise AttestationError(
            f"the development root was rebuilt with SHA-256 {root.sha256}, expected {DEV_ROOT_SHA256}"
        )
    return root


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DevAttestor:
    """Issues development attestation documents, as the NSM's ``Attestation`` request does."""

    def __init__(self, *, pcrs: Mapping[int, bytes] | None = None, clock_ms: Callable[[], int] = _now_ms) -> None:
        self._pcrs = MappingProxyType(dict(DEV_PCRS if pcrs is None else pcrs))
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._intermediate: Issued | None = None

    @property
    def pcrs(self) -> Mapping[int, bytes]:
        return self._pcrs

    def _current_intermediate(self, now: dt.datetime) -> Issued:
        # Renewed before it could expire under a document certificate issued now.
        with self._lock:
            current = self._intermediate
            if current is None or current.certificate.not_valid_after_utc < now + _DOCUMENT_CERTIFICATE_LIFETIME:
                current = issue_certificate(
                    _root_issued(),
                    name("K3s-DaaS development intermediate (no TEE)", "K3s-DaaS development mode"),
                    now - _BACKDATE,
                    now + _INTERMEDIATE_LIFETIME,
                    path_length=0,
                )
                self._intermediate = current
            return current

    def attest(
        self, *, public_key: bytes | None = None, user_data: bytes | None = None, nonce: bytes | None = None
    ) -> bytes:
        """A signed document binding ``public_key``, ``user_data`` and ``nonce`` (each optional)."""
        dev_root()  # refuse to issue under a root that verifiers would not recognise
        timestamp_ms = self._clock_ms()
        now = dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC)
        intermediate = self._current_intermediate(now)
        leaf = issue_certificate(
            intermediate,
            name(f"{DEV_MODULE_ID} document signer (no TEE)", "K3s-DaaS development mode"),
            now - _BACKDATE,
            now + _DOCUMENT_CERTIFICATE_LIFETIME,
            path_length=None,
            ca=False,
        )
        document = AttestationDocument(
            module_id=DEV_MODULE_ID,
            timestamp_ms=timestamp_ms,
            pcrs=self._pcrs,
            certificate=leaf.der,
            cabundle=(_root_issued().der, intermediate.der),
            public_key=public_key,
            user_data=user_data,
            nonce=nonce,
        )
        return sign_es384(document.encode(), leaf.key).encode()
