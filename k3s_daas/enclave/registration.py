"""Is an attested enclave key registered on chain, under the PCRs the verifier expects?

A verified attestation document says "an enclave running these PCRs holds this key". The chain
says which keys the cluster trusts: an ``enclave::Enclave`` holding the key, registered under the
``EnclaveConfig``'s current configuration version (every ``update_pcrs`` outdates earlier
registrations), with the configuration's PCR0-2 being the expected image. Only then is what the
key signs (``enclave::record_message``, ``verify_signature``) trusted on chain.

``check_registration`` decides from values (pure); ``read_registration`` reads them through
``k3s_daas.chain``. A development document is never checked here: it can never be registered
on Sui (``load_nitro_attestation`` trusts only the AWS root).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from k3s_daas.chain import ChainClient
from k3s_daas.chain.enclave import EnclaveConfig, RegisteredEnclave
from k3s_daas.enclave.errors import ConfigPcrMismatch, NotConfigured, OutdatedRegistration, RegistrationError
from k3s_daas.settings import ChainSettings

__all__ = ["CONFIGURED_PCRS", "Registration", "check_registration", "read_registration"]

CONFIGURED_PCRS: Final = (0, 1, 2)
"""The PCRs an ``EnclaveConfig`` holds: the image, the kernel, the application."""


@dataclass(frozen=True, slots=True)
class Registration:
    """The current ``Enclave`` holding the key, and the configuration it is current under."""

    config: EnclaveConfig
    enclave: RegisteredEnclave

    def describe(self) -> str:
        registered = dt.datetime.fromtimestamp(self.enclave.registered_at_ms / 1000, dt.UTC)
        return (
            f"Enclave {self.enclave.object_id} holds this key under the current configuration (version "
            f"{self.config.version}) of EnclaveConfig {self.config.object_id}, whose PCR0-2 are the expected ones "
            f"(registered by {self.enclave.owner} at {registered.isoformat(timespec='seconds')}; "
            f"checkpoint {self.config.checkpoint})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "enclave_id": self.enclave.object_id,
            "enclave_config_id": self.config.object_id,
            "config_version": self.config.version,
            "registered_at_ms": self.enclave.registered_at_ms,
            "attested_at_ms": self.enclave.attested_at_ms,
            "owner": self.enclave.owner,
            "checkpoint": self.config.checkpoint,
        }


def check_registration(
    public_key: bytes,
    expected_pcrs: Mapping[int, bytes],
    config: EnclaveConfig,
    enclaves: Sequence[RegisteredEnclave],
) -> Registration:
    """The registration of ``public_key``, or the :class:`RegistrationError` saying why there is none.

    ``expected_pcrs``: the values of PCR0-2 the verifier expects (others are ignored: the chain
    holds only these three).
    """
    if not config.configured:
        raise NotConfigured(
            f"EnclaveConfig {config.object_id} has no PCRs yet (version 0): no enclave can be registered; "
            "the admin sets them with enclave::update_pcrs"
        )
    differing = [
        f"PCR{index} is {config.pcrs[index].hex() or '(empty)'} on chain, expected {expected_pcrs[index].hex()}"
        for index in CONFIGURED_PCRS
        if index in expected_pcrs and config.pcrs[index] != expected_pcrs[index]
    ]
    if differing:
        raise ConfigPcrMismatch(
            f"the chain's EnclaveConfig {config.object_id} (version {config.version}) expects another image: "
            + "; ".join(differing)
        )
    holding = [enclave for enclave in enclaves if enclave.public_key == public_key]
    current = [enclave for enclave in holding if enclave.current(config)]
    if current:
        # The same document may be registered more than once; the latest registration is reported.
        return Registration(config, max(current, key=lambda enclave: (enclave.registered_at_ms, enclave.object_id)))
    if holding:
        versions = ", ".join(str(v) for v in sorted({enclave.config_version for enclave in holding}))
        raise OutdatedRegistration(
            f"the key is registered under configuration version {versions}, but the current version is "
            f"{config.version}: the enclave must register again (enclave::register_enclave)"
        )
    raise RegistrationError(
        f"no Enclave on chain holds this key ({len(enclaves)} registered): register it with "
        "enclave::register_enclave and a fresh attestation document"
    )


async def read_registration(
    settings: ChainSettings, public_key: bytes, expected_pcrs: Mapping[int, bytes]
) -> Registration:
    """``check_registration`` on the chain's current state (``settings``: URL and package id)."""
    async with await ChainClient.connect(settings) as chain:
        # Enclaves first, then the configuration: a PCR update between the two reads can only make a
        # registration look outdated (which it then is), never make an outdated one look current.
        enclaves = await chain.enclaves()
        config = await chain.enclave_config()
    return check_registration(public_key, expected_pcrs, config, enclaves)
