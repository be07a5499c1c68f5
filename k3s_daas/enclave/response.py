"""The ``GET /attestation`` exchange between the webhook and a verifier.

Request: ``GET /attestation`` with an optional ``nonce`` query parameter (hex, 1..64 bytes); the
server binds the nonce into the document it returns, so a verifier that sends a fresh one knows
the document was made for it.

Response (``application/json``)::

    {"format": "k3s-daas/attestation@1",
     "mode": "nitro" | "development",
     "dev_mode": false | true,
     "attestation": "<hex of the COSE_Sign1 document>",
     "public_key": "<hex of the enclave Ed25519 public key>"}

``attestation`` is hex as in Nautilus's ``/get_attestation``. ``mode``/``dev_mode`` are the
server's own statement, repeated in every response so that nobody mistakes a development server
for an enclave; a verifier still decides from the document itself and rejects a response whose
statement contradicts it. ``public_key`` is a convenience copy: only the one inside the document
is trusted.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any, Final

from k3s_daas.enclave.errors import MalformedAttestation

__all__ = ["FORMAT", "MAX_NONCE", "AttestationResponse", "parse_nonce"]

FORMAT: Final = "k3s-daas/attestation@1"
MODE_NITRO: Final = "nitro"
MODE_DEVELOPMENT: Final = "development"
MAX_NONCE: Final = 64
MAX_RESPONSE: Final = 256 * 1024


def parse_nonce(text: str) -> bytes:
    """The ``nonce`` query parameter: hex of 1..64 bytes."""
    try:
        nonce = bytes.fromhex(text)
    except ValueError:
        raise MalformedAttestation("nonce must be hex") from None
    if not 1 <= len(nonce) <= MAX_NONCE:
        raise MalformedAttestation(f"nonce must be 1..{MAX_NONCE} bytes")
    return nonce


@dataclass(frozen=True, slots=True)
class AttestationResponse:
    document: bytes
    dev_mode: bool
    public_key: bytes | None = None

    @property
    def mode(self) -> str:
        return MODE_DEVELOPMENT if self.dev_mode else MODE_NITRO

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "mode": self.mode,
            "dev_mode": self.dev_mode,
            "attestation": self.document.hex(),
            "public_key": None if self.public_key is None else self.public_key.hex(),
        }

    @classmethod
    def from_json_bytes(cls, body: bytes) -> AttestationResponse:
        if len(body) > MAX_RESPONSE:
            raise MalformedAttestation(f"attestation response is {len(body)} bytes, more than {MAX_RESPONSE}")
        try:
            value = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MalformedAttestation(f"attestation response is not JSON: {error}") from None
        if not isinstance(value, dict) or value.get("format") != FORMAT:
            raise MalformedAttestation(f"attestation response is not {FORMAT}")
        dev_mode, mode = value.get("dev_mode"), value.get("mode")
        if not isinstance(dev_mode, bool) or mode != (MODE_DEVELOPMENT if dev_mode else MODE_NITRO):
            raise MalformedAttestation("attestation response has inconsistent mode / dev_mode")
        try:
            document = binascii.unhexlify(value["attestation"])
            key = value.get("public_key")
            public_key = None if key is None else binascii.unhexlify(key)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise MalformedAttestation("attestation response lacks a hex attestation / public_key") from None
        return cls(document=document, dev_mode=dev_mode, public_key=public_key)
