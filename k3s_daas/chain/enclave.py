"""The ``enclave`` module's shared objects as the chain client reads them (docs/chain-model.md).

``EnclaveConfig`` holds the expected PCR0-2 and the configuration version (bumped by every
``update_pcrs``); each ``Enclave`` holds one registered enclave public key and the version it was
attested under. An enclave is current only while its ``config_version`` is the configuration's
``version``. Parsed strictly from Sui's JSON rendering (``vector<u8>`` as Base64, u64 as strings).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

from k3s_daas.chain.errors import ChainMalformedAnswer
from k3s_daas.chain.models import as_address, as_u64, field

__all__ = ["EnclaveConfig", "RegisteredEnclave", "parse_enclave", "parse_enclave_config"]


@dataclass(frozen=True, slots=True)
class EnclaveConfig:
    """``enclave::EnclaveConfig`` (shared): the expected enclave image."""

    object_id: str
    object_version: int
    """The object's Sui version (not the configuration version)."""
    pcr0: bytes
    pcr1: bytes
    pcr2: bytes
    version: int
    """The configuration version: 0 until PCRs are set, then + 1 per ``update_pcrs``."""
    checkpoint: int

    @property
    def configured(self) -> bool:
        return self.version > 0

    @property
    def pcrs(self) -> Mapping[int, bytes]:
        return {0: self.pcr0, 1: self.pcr1, 2: self.pcr2}


@dataclass(frozen=True, slots=True)
class RegisteredEnclave:
    """``enclave::Enclave`` (shared): one enclave key attested under ``config_version``."""

    object_id: str
    public_key: bytes
    config_version: int
    attested_at_ms: int
    registered_at_ms: int
    owner: str
    """Who registered it (registration is permissionless)."""
    checkpoint: int

    def current(self, config: EnclaveConfig) -> bool:
        """Registered under the configuration in force (``enclave::is_current``)."""
        return self.config_version == config.version


def as_bytes(value: object, what: str) -> bytes:
    # Sui renders vector<u8> as Base64.
    if not isinstance(value, str):
        raise ChainMalformedAnswer(f"malformed {what}: {value!r}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ChainMalformedAnswer(f"malformed {what} (not Base64): {value!r}") from None


def parse_enclave_config(data: Mapping[str, object], object_version: int, checkpoint: int) -> EnclaveConfig:
    what = "EnclaveConfig"
    return EnclaveConfig(
        object_id=as_address(field(data, "id", what), f"{what}.id"),
        object_version=object_version,
        pcr0=as_bytes(field(data, "pcr0", what), f"{what}.pcr0"),
        pcr1=as_bytes(field(data, "pcr1", what), f"{what}.pcr1"),
        pcr2=as_bytes(field(data, "pcr2", what), f"{what}.pcr2"),
        version=as_u64(field(data, "version", what), f"{what}.version"),
        checkpoint=checkpoint,
    )


def parse_enclave(data: Mapping[str, object], checkpoint: int) -> RegisteredEnclave:
    what = "Enclave"
    return RegisteredEnclave(
        object_id=as_address(field(data, "id", what), f"{what}.id"),
        public_key=as_bytes(field(data, "public_key", what), f"{what}.public_key"),
        config_version=as_u64(field(data, "config_version", what), f"{what}.config_version"),
        attested_at_ms=as_u64(field(data, "attested_at_ms", what), f"{what}.attested_at_ms"),
        registered_at_ms=as_u64(field(data, "registered_at_ms", what), f"{what}.registered_at_ms"),
        owner=as_address(field(data, "owner", what), f"{what}.owner"),
        checkpoint=checkpoint,
    )
