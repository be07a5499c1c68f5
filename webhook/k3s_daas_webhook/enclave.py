"""The webhook's enclave identity: its enclave key and where its attestation documents come from.

The key (Ed25519) is generated when the server starts and lives in this process's memory only:
``EnclaveKey`` cannot export, pickle or copy it, so it is never written anywhere, and a restarted
server has a new key that must be registered on chain again (docs/enclave.md). The documents
come from the NSM in an AWS Nitro enclave, or from development mode, which every answer and the
``k3s_daas_enclave_dev_mode`` metric announce (``WebhookSettings.attestation_mode``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.enclave.nsm import NsmDevice
from k3s_daas.enclave.provider import AttestationProvider, attestation_response, provider_for_mode
from k3s_daas.enclave.response import MODE_DEVELOPMENT, MODE_NITRO, AttestationResponse
from k3s_daas.settings import WebhookSettings

log = logging.getLogger(__name__)

__all__ = ["EnclaveIdentity", "start_identity"]


@dataclass(frozen=True)
class EnclaveIdentity:
    key: EnclaveKey
    provider: AttestationProvider

    @property
    def dev_mode(self) -> bool:
        return self.provider.dev_mode

    @property
    def mode(self) -> str:
        """``nitro`` or ``development``: the ``mode`` of every /attestation answer."""
        return MODE_DEVELOPMENT if self.dev_mode else MODE_NITRO

    @property
    def public_key(self) -> bytes:
        return self.key.public_key

    def attest(self, nonce: bytes | None) -> AttestationResponse:
        """A fresh document binding the enclave key and ``nonce`` (blocking: the NSM is an ioctl)."""
        return attestation_response(self.provider, self.key, nonce)


def start_identity(settings: WebhookSettings) -> EnclaveIdentity:
    """Choose the document source (refusing a ``nitro`` mode without the NSM) and create the key."""
    provider = provider_for_mode(settings.attestation_mode, NsmDevice(settings.nsm_device))
    identity = EnclaveIdentity(EnclaveKey.generate(), provider)
    if identity.dev_mode:
        log.warning(
            "DEVELOPMENT MODE (attestation mode %s): /attestation serves development documents, which attest "
            "nothing (no TEE); enclave key %s",
            settings.attestation_mode,
            identity.public_key.hex(),
        )
    else:
        log.info("attestation from the Nitro NSM (%s); enclave key %s", settings.nsm_device, identity.public_key.hex())
    return identity
