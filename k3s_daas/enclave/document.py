"""The attestation document payload: a CBOR map, checked field by field.

The rules are AWS's ("Syntactical validation" in aws-nitro-enclaves-nsm-api
docs/attestation_process.md) with two deliberate differences, both to accept what the NSM really
sends and what Sui accepts:

* an optional field (``public_key``, ``user_data``, ``nonce``) may be CBOR null, meaning absent:
  the NSM writes null for what it was not given;
* PCRs 0, 1, 2, 3, 4 and 8 must be present, as Sui's parser requires (AWS fills all 16).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import cbor2

from k3s_daas.enclave.cose import decode_cbor
from k3s_daas.enclave.errors import MalformedAttestation

__all__ = ["REQUIRED_PCRS", "AttestationDocument"]

DIGEST: Final = "SHA384"
REQUIRED_PCRS: Final = (0, 1, 2, 3, 4, 8)
PCR_LENGTHS: Final = frozenset({32, 48, 64})
MAX_PCR_INDEX: Final = 31
MAX_CERTIFICATE: Final = 1024
MAX_USER_DATA: Final = 1024
MAX_U64: Final = 2**64 - 1
_FIELDS: Final = frozenset(
    {"module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce"}
)


@dataclass(frozen=True, slots=True)
class AttestationDocument:
    """What the NSM signed. Parsing checks the shape only; trust comes from ``attestation.verify``."""

    module_id: str
    timestamp_ms: int
    pcrs: Mapping[int, bytes]
    certificate: bytes
    cabundle: tuple[bytes, ...]
    public_key: bytes | None = None
    user_data: bytes | None = None
    nonce: bytes | None = None
    digest: str = DIGEST

    def __post_init__(self) -> None:
        # A read-only copy: a verified document must not change under its verifier's feet.
        object.__setattr__(self, "pcrs", MappingProxyType(dict(self.pcrs)))

    @classmethod
    def parse(cls, payload: bytes) -> AttestationDocument:
        value = decode_cbor(payload, "attestation payload")
        if not isinstance(value, Mapping):
            raise MalformedAttestation("attestation payload is not a CBOR map")
        unknown = sorted(str(key) for key in value if key not in _FIELDS)
        if unknown:
            raise MalformedAttestation(f"attestation payload has unknown fields: {', '.join(unknown)}")
        module_id = _text(value, "module_id")
        if not module_id:
            raise MalformedAttestation("module_id is empty")
        digest = _text(value, "digest")
        if digest != DIGEST:
            raise MalformedAttestation(f"digest is {digest!r}, expected {DIGEST!r}")
        timestamp = value.get("timestamp")
        if type(timestamp) is not int or not 0 < timestamp <= MAX_U64:
            raise MalformedAttestation("timestamp must be a positive u64 (milliseconds since the epoch)")
        return cls(
            module_id=module_id,
            timestamp_ms=timestamp,
            pcrs=_pcrs(value.get("pcrs")),
            certificate=_certificate(value.get("certificate"), "certificate"),
            cabundle=_cabundle(value.get("cabundle")),
            public_key=_optional_bytes(value, "public_key", 1, MAX_USER_DATA),
            user_data=_optional_bytes(value, "user_data", 0, MAX_USER_DATA),
            nonce=_optional_bytes(value, "nonce", 0, MAX_USER_DATA),
            digest=digest,
        )

    def encode(self) -> bytes:
        """The CBOR payload, fields in the NSM's order (for development documents and tests)."""
        return cbor2.dumps(
            {
                "module_id": self.module_id,
                "digest": self.digest,
                "timestamp": self.timestamp_ms,
                "pcrs": dict(sorted(self.pcrs.items())),
                "certificate": self.certificate,
                "cabundle": list(self.cabundle),
                "public_key": self.public_key,
                "user_data": self.user_data,
                "nonce": self.nonce,
            }
        )


def _text(value: Mapping[Any, Any], key: str) -> str:
    item = value.get(key)
    if not isinstance(item, str):
        raise MalformedAttestation(f"{key} must be a text string")
    return item


def _pcrs(item: object) -> dict[int, bytes]:
    if not isinstance(item, Mapping) or not 1 <= len(item) <= MAX_PCR_INDEX + 1:
        raise MalformedAttestation("pcrs must be a map of 1 to 32 entries")
    pcrs: dict[int, bytes] = {}
    for index, pcr in item.items():
        if type(index) is not int or not 0 <= index <= MAX_PCR_INDEX:
            raise MalformedAttestation(f"PCR index {index!r} is not an integer in 0..{MAX_PCR_INDEX}")
        if not isinstance(pcr, bytes) or len(pcr) not in PCR_LENGTHS:
            raise MalformedAttestation(f"PCR{index} must be 32, 48 or 64 bytes")
        pcrs[index] = pcr
    missing = [index for index in REQUIRED_PCRS if index not in pcrs]
    if missing:
        raise MalformedAttestation(f"pcrs lacks PCR{', PCR'.join(map(str, missing))}")
    return pcrs


def _certificate(item: object, what: str) -> bytes:
    if not isinstance(item, bytes) or not 1 <= len(item) <= MAX_CERTIFICATE:
        raise MalformedAttestation(f"{what} must be a DER certificate of 1..{MAX_CERTIFICATE} bytes")
    return item


def _cabundle(item: object) -> tuple[bytes, ...]:
    if not isinstance(item, list | tuple) or not item:
        raise MalformedAttestation("cabundle must be a non-empty array")
    return tuple(_certificate(entry, f"cabundle[{i}]") for i, entry in enumerate(item))


def _optional_bytes(value: Mapping[Any, Any], key: str, minimum: int, maximum: int) -> bytes | None:
    item = value.get(key)
    if item is None:
        return None
    if not isinstance(item, bytes) or not minimum <= len(item) <= maximum:
        raise MalformedAttestation(f"{key} must be {minimum}..{maximum} bytes or null")
    return item
