"""Where the webhook's attestation documents come from: the NSM, or development mode.

The choice is made once, at start, and never silently: in an enclave the NSM device exists and is
used; elsewhere the server refuses to start unless development mode was asked for, and then every
response says ``dev_mode: true`` (see ``response``).

The webhook's setting (``provider_for_mode``) names the choice: ``nitro`` (the NSM or refuse to
start), ``dev`` (development mode even where an NSM exists) or ``auto`` (the NSM when the device
exists, development mode otherwise, which the server then announces everywhere).
"""

from __future__ import annotations

from typing import Final, Protocol

from k3s_daas.enclave.devmode import DevAttestor
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.enclave.nsm import NsmDevice, NsmError
from k3s_daas.enclave.response import AttestationResponse

__all__ = [
    "ATTESTATION_MODES",
    "AttestationProvider",
    "DevProvider",
    "NitroProvider",
    "attestation_response",
    "provider_for_mode",
    "select_provider",
]

MODE_AUTO: Final = "auto"
MODE_NITRO: Final = "nitro"
MODE_DEV: Final = "dev"
ATTESTATION_MODES: Final = (MODE_AUTO, MODE_NITRO, MODE_DEV)


class AttestationProvider(Protocol):
    @property
    def dev_mode(self) -> bool: ...

    def attest(self, *, public_key: bytes, nonce: bytes | None = None, user_data: bytes | None = None) -> bytes: ...


class NitroProvider:
    """Documents from the NSM, signed under the AWS Nitro root."""

    dev_mode = False

    def __init__(self, device: NsmDevice) -> None:
        self._device = device

    def attest(self, *, public_key: bytes, nonce: bytes | None = None, user_data: bytes | None = None) -> bytes:
        return self._device.attest(public_key=public_key, nonce=nonce, user_data=user_data)


class DevProvider:
    """Development documents (no TEE), signed under the K3s-DaaS development root."""

    dev_mode = True

    def __init__(self, attestor: DevAttestor | None = None) -> None:
        self._attestor = attestor or DevAttestor()

    def attest(self, *, public_key: bytes, nonce: bytes | None = None, user_data: bytes | None = None) -> bytes:
        return self._attestor.attest(public_key=public_key, nonce=nonce, user_data=user_data)


def select_provider(*, allow_dev: bool, device: NsmDevice | None = None) -> AttestationProvider:
    """The NSM when present; development mode only when allowed; otherwise a clear refusal."""
    nsm = device or NsmDevice()
    if nsm.available:
        return NitroProvider(nsm)
    if allow_dev:
        return DevProvider()
    raise NsmError(
        "no NSM device (/dev/nsm): this is not an AWS Nitro enclave. Start in development mode explicitly "
        "to serve development attestations, which attest nothing."
    )


def provider_for_mode(mode: str, device: NsmDevice | None = None) -> AttestationProvider:
    """The provider a configured mode (``ATTESTATION_MODES``) asks for; refuses what cannot be had."""
    if mode == MODE_DEV:
        return DevProvider()
    if mode in (MODE_NITRO, MODE_AUTO):
        return select_provider(allow_dev=mode == MODE_AUTO, device=device)
    raise ValueError(f"attestation mode {mode!r} is not one of {', '.join(ATTESTATION_MODES)}")


def attestation_response(
    provider: AttestationProvider, key: EnclaveKey, nonce: bytes | None = None
) -> AttestationResponse:
    """What ``GET /attestation`` returns: a fresh document binding the enclave key (and nonce)."""
    document = provider.attest(public_key=key.public_key, nonce=nonce)
    return AttestationResponse(document=document, dev_mode=provider.dev_mode, public_key=key.public_key)
