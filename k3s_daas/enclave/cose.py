"""COSE_Sign1 (RFC 9052) as the Nitro Security Module uses it: ES384, nothing unprotected.

A signed attestation document is the CBOR array ``[protected, unprotected, payload, signature]``,
optionally under tag 18, where

* ``protected`` is the byte string holding the CBOR map ``{1: -35}`` (alg ES384),
* ``unprotected`` is an empty map,
* ``payload`` is the CBOR-encoded attestation document (1..16383 bytes, Sui's limit),
* ``signature`` is ECDSA P-384 over SHA-384 as ``r || s`` (48 bytes each), computed over the
  Sig_structure ``["Signature1", protected, b"", payload]``.

The shape checks here are the ones Sui's ``load_nitro_attestation`` makes before it answers
``EParseError``, so a document refused here is refused on chain too.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from k3s_daas.enclave.errors import MalformedAttestation, SignatureInvalid

__all__ = ["CoseSign1", "decode_cbor", "sign_es384"]

COSE_SIGN1_TAG: Final = 18
ALG_ES384: Final = -35
PROTECTED_ES384: Final = cbor2.dumps({1: ALG_ES384})
P384_COORDINATE: Final = 48
SIGNATURE_LENGTH: Final = 2 * P384_COORDINATE
MAX_PAYLOAD: Final = 16383
# A genuine document is about 4.5 KiB; refusing anything far larger before decoding bounds the
# work a hostile server can make the verifier do.
MAX_DOCUMENT: Final = 32 * 1024


def decode_cbor(data: bytes, what: str) -> Any:
    """One CBOR item that spans ``data`` exactly (trailing bytes are an error, not ignored)."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError) as error:
        raise MalformedAttestation(f"{what} is not valid CBOR: {error}") from None
    if stream.tell() != len(data):
        raise MalformedAttestation(f"{what} has {len(data) - stream.tell()} bytes after its CBOR item")
    return value


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


@dataclass(frozen=True, slots=True)
class CoseSign1:
    """A decoded COSE_Sign1 whose shape is the Nitro one (its signature not yet checked)."""

    protected: bytes
    payload: bytes
    signature: bytes

    @classmethod
    def decode(cls, document: bytes) -> CoseSign1:
        if not document:
            raise MalformedAttestation("attestation document is empty")
        if len(document) > MAX_DOCUMENT:
            raise MalformedAttestation(f"attestation document is {len(document)} bytes, more than {MAX_DOCUMENT}")
        value = decode_cbor(document, "attestation document")
        if isinstance(value, cbor2.CBORTag):
            if value.tag != COSE_SIGN1_TAG:
                raise MalformedAttestation(f"CBOR tag {value.tag} is not COSE_Sign1 ({COSE_SIGN1_TAG})")
            value = value.value
        if not isinstance(value, list | tuple) or len(value) != 4:
            raise MalformedAttestation("attestation document is not a COSE_Sign1 array of 4 items")
        protected, unprotected, payload, signature = value
        if not isinstance(protected, bytes) or decode_cbor(protected, "COSE protected header") != {1: ALG_ES384}:
            raise MalformedAttestation("COSE protected header must be exactly {1: -35} (ES384)")
        if not isinstance(unprotected, Mapping):
            raise MalformedAttestation("COSE unprotected header must be a map")
        if not isinstance(payload, bytes) or not 1 <= len(payload) <= MAX_PAYLOAD:
            raise MalformedAttestation(f"COSE payload must be 1..{MAX_PAYLOAD} bytes")
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LENGTH:
            raise MalformedAttestation(f"COSE signature must be {SIGNATURE_LENGTH} bytes (ES384 r || s)")
        return cls(protected=protected, payload=payload, signature=signature)

    def verify(self, key: ec.EllipticCurvePublicKey) -> None:
        """ES384 over the Sig_structure with ``key`` (the document certificate's key)."""
        if not isinstance(key.curve, ec.SECP384R1):
            raise SignatureInvalid(f"document certificate key is on {key.curve.name}, not P-384")
        r = int.from_bytes(self.signature[:P384_COORDINATE], "big")
        s = int.from_bytes(self.signature[P384_COORDINATE:], "big")
        try:
            key.verify(
                encode_dss_signature(r, s), _sig_structure(self.protected, self.payload), ec.ECDSA(hashes.SHA384())
            )
        except InvalidSignature:
            raise SignatureInvalid("COSE_Sign1 signature does not verify with the document certificate") from None

    def encode(self, *, tagged: bool = False) -> bytes:
        items = [self.protected, {}, self.payload, self.signature]
        return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, items) if tagged else items)


def sign_es384(payload: bytes, key: ec.EllipticCurvePrivateKey) -> CoseSign1:
    """A COSE_Sign1 over ``payload`` the way the NSM makes one (for development documents and tests)."""
    der = key.sign(_sig_structure(PROTECTED_ES384, payload), ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(P384_COORDINATE, "big") + s.to_bytes(P384_COORDINATE, "big")
    return CoseSign1(protected=PROTECTED_ES384, payload=payload, signature=signature)
