"""Sui keys, addresses and personal-message signatures (Ed25519, Secp256k1, Secp256r1).

Wire formats, as Sui defines them:

* personal-message digest = blake2b-256([3, 0, 0] || uleb128(len(message)) || message): the intent
  (scope PersonalMessage, version 0, app Sui) followed by the message as a BCS ``vector<u8>``;
* serialized signature = base64(flag || signature || public key), signature 64 bytes, public key 32
  bytes (Ed25519) or 33 bytes (compressed secp point);
* address = "0x" + hex(blake2b-256(flag || public key)).

Ed25519 signs the 32-byte digest itself; both ECDSA schemes sign SHA-256 of the digest with the
signature as r || s (32 bytes each, big endian).

The crypto is ``cryptography`` (OpenSSL) and ``hashlib`` only: pysui 1.5.1 corrupts messages that
contain 0x00 bytes when it signs them.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Final

import coincurve
import nacl.bindings
import nacl.exceptions
from coincurve import ecdsa as coincurve_ecdsa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from k3s_daas.errors import UserError
from k3s_daas.sui import bcs

__all__ = [
    "AddressError",
    "Keypair",
    "SignatureError",
    "SignatureScheme",
    "VerifiedSigner",
    "address_from_public_key",
    "normalize_address",
    "personal_message_digest",
    "verify_personal_message",
]


class SignatureScheme(enum.IntEnum):
    """The schemes this project accepts, valued as Sui's signature flag byte."""

    ED25519 = 0
    SECP256K1 = 1
    SECP256R1 = 2

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: Final = {
    SignatureScheme.ED25519: "Ed25519",
    SignatureScheme.SECP256K1: "Secp256k1",
    SignatureScheme.SECP256R1: "Secp256r1",
}

# Flags Sui defines that this project does not accept, named so the error says what was sent.
_UNSUPPORTED_FLAGS: Final = {3: "MultiSig", 4: "BLS12-381", 5: "zkLogin", 6: "passkey"}


class SignatureError(UserError, ValueError):
    """A key, signature or address that is malformed or does not verify."""


class AddressError(SignatureError):
    """Text that is not a Sui address."""


SIGNATURE_LENGTH: Final = 64
SECRET_LENGTH: Final = 32
PUBLIC_KEY_LENGTHS: Final = {
    SignatureScheme.ED25519: 32,
    SignatureScheme.SECP256K1: 33,
    SignatureScheme.SECP256R1: 33,
}

# 1 + 64 + 33 bytes encode to 132 base64 characters; anything longer is rejected before decoding so
# a hostile token cannot make the verifier decode megabytes.
_MAX_SERIALIZED_B64: Final = 132

_PERSONAL_MESSAGE_INTENT: Final = bytes([3, 0, 0])


@dataclass(frozen=True, slots=True)
class _Curve:
    curve: ec.EllipticCurve
    order: int

    @property
    def half_order(self) -> int:
        return self.order >> 1


_CURVES: Final = {
    SignatureScheme.SECP256K1: _Curve(
        ec.SECP256K1(), 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    ),
    SignatureScheme.SECP256R1: _Curve(
        ec.SECP256R1(), 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    ),
}


def personal_message_digest(message: bytes) -> bytes:
    """The 32 bytes a Sui wallet signs for ``signPersonalMessage(message)``."""
    hasher = hashlib.blake2b(digest_size=32)
    hasher.update(_PERSONAL_MESSAGE_INTENT)
    hasher.update(bcs.uleb128(len(message)))
    hasher.update(message)
    return hasher.digest()


def address_from_public_key(scheme: SignatureScheme, public_key: bytes) -> str:
    """The Sui address of a public key (secp keys in 33-byte compressed form)."""
    expected = PUBLIC_KEY_LENGTHS[scheme]
    if len(public_key) != expected:
        raise SignatureError(f"{scheme.label} public key must be {expected} bytes, got {len(public_key)}")
    return "0x" + hashlib.blake2b(bytes([scheme]) + public_key, digest_size=32).hexdigest()


_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def normalize_address(text: str) -> str:
    """``0x`` + 1..64 hex digits -> lowercase, zero-padded to 64 digits (Sui's canonical form)."""
    if not text.startswith("0x"):
        raise AddressError("a Sui address must start with 0x")
    digits = text[2:]
    if not digits:
        raise AddressError("a Sui address needs hex digits after 0x")
    if len(digits) > 64:
        raise AddressError(f"a Sui address has at most 64 hex digits, got {len(digits)}")
    if not _HEX_DIGITS.issuperset(digits):
        raise AddressError("a Sui address may contain only hex digits after 0x")
    return "0x" + digits.lower().rjust(64, "0")


@dataclass(frozen=True, slots=True)
class VerifiedSigner:
    """Who produced a signature that verified: the address is derived from the public key."""

    address: str
    scheme: SignatureScheme
    public_key: bytes


def _scheme_from_flag(flag: int) -> SignatureScheme:
    try:
        return SignatureScheme(flag)
    except ValueError:
        pass
    name = _UNSUPPORTED_FLAGS.get(flag)
    if name is not None:
        raise SignatureError(f"{name} signatures (flag {flag}) are not supported: use Ed25519, Secp256k1 or Secp256r1")
    raise SignatureError(f"unknown signature scheme flag {flag}")


def _decode_serialized(signature_b64: str) -> tuple[SignatureScheme, bytes, bytes]:
    if len(signature_b64) > _MAX_SERIALIZED_B64:
        raise SignatureError(
            f"signature is {len(signature_b64)} base64 characters, more than a Sui signature "
            f"({_MAX_SERIALIZED_B64} at most)"
        )
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature is not valid base64") from None
    if not raw:
        raise SignatureError("signature is empty")
    scheme = _scheme_from_flag(raw[0])
    expected = 1 + SIGNATURE_LENGTH + PUBLIC_KEY_LENGTHS[scheme]
    if len(raw) != expected:
        raise SignatureError(
            f"{scheme.label} serialized signature must be {expected} bytes "
            f"(flag, 64-byte signature, {PUBLIC_KEY_LENGTHS[scheme]}-byte public key), got {len(raw)}"
        )
    return scheme, raw[1 : 1 + SIGNATURE_LENGTH], raw[1 + SIGNATURE_LENGTH :]


def _verify_ed25519(public_key: bytes, signature: bytes, digest: bytes) -> None:
    # libsodium (PyNaCl) verifies in about half the time of OpenSSL here, which first-seen tokens need
    # for their throughput budget. It is strict: canonical S and A, small-order keys refused, the
    # cofactorless equation. Sui's ed25519-consensus (ZIP 215) accepts a superset of that (a few
    # non-canonical encodings no honest signer produces, the cofactored equation), so anything this
    # accepts Sui accepts too.
    try:
        nacl.bindings.crypto_sign_open(signature + digest, public_key)
    except nacl.exceptions.BadSignatureError:
        raise SignatureError("Ed25519 signature does not verify") from None
    except (nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise SignatureError("Ed25519 public key is not a valid curve point") from None


# Decompressing a point costs a square root (a quarter of a Secp256r1 verification here), and a
# user's tokens all carry the same key: memoize this pure function, bounded. Invalid points raise
# and are never cached.
@functools.lru_cache(maxsize=4096)
def _load_ec_public_key(scheme: SignatureScheme, public_key: bytes) -> ec.EllipticCurvePublicKey:
    if public_key[0] not in (2, 3):
        raise SignatureError(f"{scheme.label} public key must be a compressed point (02 or 03 prefix)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[scheme].curve, public_key)
    except ValueError:
        raise SignatureError(f"{scheme.label} public key is not a valid curve point") from None


def _verify_ecdsa(scheme: SignatureScheme, public_key: bytes, signature: bytes, digest: bytes) -> None:
    curve = _CURVES[scheme]
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < curve.order and 0 < s < curve.order):
        raise SignatureError(f"{scheme.label} signature has r or s out of range")
    # Sui accepts only the low-S half (fastcrypto: libsecp256k1 for k1, an explicit is_high check
    # for r1), which makes signatures non-malleable; wallets normalize s before sending.
    if s > curve.half_order:
        raise SignatureError(f"{scheme.label} signature is not in low-S form, which Sui rejects")
    if scheme is SignatureScheme.SECP256K1:
        _verify_secp256k1(public_key, signature, digest)
        return
    key = _load_ec_public_key(scheme, public_key)
    try:
        key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureError(f"{scheme.label} signature does not verify") from None


@functools.lru_cache(maxsize=4096)  # as _load_ec_public_key
def _load_secp256k1_public_key(public_key: bytes) -> coincurve.PublicKey:
    try:
        return coincurve.PublicKey(public_key)
    except ValueError:
        raise SignatureError("Secp256k1 public key is not a valid curve point") from None


def _verify_secp256k1(public_key: bytes, signature: bytes, digest: bytes) -> None:
    # libsecp256k1 (what Sui itself uses) verifies about 8x faster than OpenSSL's generic curve
    # code here, which is what lets first-seen tokens meet their throughput budget.
    if public_key[0] not in (2, 3):
        raise SignatureError("Secp256k1 public key must be a compressed point (02 or 03 prefix)")
    key = _load_secp256k1_public_key(public_key)
    der = coincurve_ecdsa.cdata_to_der(coincurve_ecdsa.deserialize_compact(signature))
    if not key.verify(der, digest):  # coincurve hashes with SHA-256, as Sui does for Secp256k1
        raise SignatureError("Secp256k1 signature does not verify")


def verify_personal_message(message: bytes, signature_b64: str, expected_address: str | None = None) -> VerifiedSigner:
    """Check a Sui serialized signature over ``message`` as a personal message.

    Returns the signer (address derived from the embedded public key); raises ``SignatureError``
    with the reason otherwise. With ``expected_address`` the signer must be that address.
    """
    scheme, signature, public_key = _decode_serialized(signature_b64)
    address = address_from_public_key(scheme, public_key)
    # The address check is a hash, the signature check a curve operation: fail cheap first.
    if expected_address is not None:
        expected = normalize_address(expected_address)
        if address != expected:
            raise SignatureError(f"signature is from {address}, expected {expected}")
    digest = personal_message_digest(message)
    if scheme is SignatureScheme.ED25519:
        _verify_ed25519(public_key, signature, digest)
    else:
        _verify_ecdsa(scheme, public_key, signature, digest)
    return VerifiedSigner(address=address, scheme=scheme, public_key=public_key)


def serialize_signature(scheme: SignatureScheme, signature: bytes, public_key: bytes) -> str:
    """base64(flag || signature || public key), the form wallets and the SDK exchange."""
    if len(signature) != SIGNATURE_LENGTH:
        raise SignatureError(f"signature must be {SIGNATURE_LENGTH} bytes, got {len(signature)}")
    if len(public_key) != PUBLIC_KEY_LENGTHS[scheme]:
        raise SignatureError(
            f"{scheme.label} public key must be {PUBLIC_KEY_LENGTHS[scheme]} bytes, got {len(public_key)}"
        )
    return base64.b64encode(bytes([scheme]) + signature + public_key).decode("ascii")


_PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _as_scheme(scheme: int) -> SignatureScheme:
    try:
        return SignatureScheme(scheme)
    except ValueError:
        raise SignatureError(f"unknown signature scheme {scheme}") from None


def _scheme_of(private_key: _PrivateKey) -> SignatureScheme:
    if isinstance(private_key, Ed25519PrivateKey):
        return SignatureScheme.ED25519
    for scheme, curve in _CURVES.items():
        if private_key.curve.name == curve.curve.name:
            return scheme
    raise SignatureError(f"curve {private_key.curve.name} is not a Sui signature scheme")


def _public_key_bytes(private_key: _PrivateKey) -> bytes:
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key.public_key().public_bytes_raw()
    return private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )


@dataclass(frozen=True, slots=True, eq=False)
class Keypair:
    """A Sui signing key. Build it with ``from_secret`` or ``generate``; the secret never shows in repr."""

    _private_key: _PrivateKey = field(repr=False)
    scheme: SignatureScheme = field(init=False)
    public_key: bytes = field(init=False)
    address: str = field(init=False)

    def __post_init__(self) -> None:
        scheme = _scheme_of(self._private_key)
        public_key = _public_key_bytes(self._private_key)
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "address", address_from_public_key(scheme, public_key))

    @classmethod
    def from_secret(cls, scheme: SignatureScheme, secret: bytes) -> Keypair:
        """The 32-byte secret as the Sui keystore stores it (Ed25519 seed or secp scalar)."""
        scheme = _as_scheme(scheme)
        if len(secret) != SECRET_LENGTH:
            raise SignatureError(f"{scheme.label} secret key must be {SECRET_LENGTH} bytes, got {len(secret)}")
        if scheme is SignatureScheme.ED25519:
            return cls(Ed25519PrivateKey.from_private_bytes(bytes(secret)))
        curve = _CURVES[scheme]
        scalar = int.from_bytes(secret, "big")
        if not 0 < scalar < curve.order:
            raise SignatureError(f"{scheme.label} secret key is not a valid scalar (zero or >= curve order)")
        return cls(ec.derive_private_key(scalar, curve.curve))

    @classmethod
    def generate(cls, scheme: SignatureScheme) -> Keypair:
        scheme = _as_scheme(scheme)
        if scheme is SignatureScheme.ED25519:
            return cls(Ed25519PrivateKey.generate())
        return cls(ec.generate_private_key(_CURVES[scheme].curve))

    def secret_bytes(self) -> bytes:
        """The 32-byte secret, as ``from_secret`` takes it. Handle with care."""
        if isinstance(self._private_key, Ed25519PrivateKey):
            return self._private_key.private_bytes_raw()
        return self._private_key.private_numbers().private_value.to_bytes(SECRET_LENGTH, "big")

    def sign_digest(self, digest: bytes) -> bytes:
        """The raw 64-byte Sui signature over a 32-byte intent digest (low-S for ECDSA)."""
        # Sui signs digests, never raw messages: refusing other lengths catches that mix-up.
        if len(digest) != 32:
            raise SignatureError(f"a Sui intent digest is 32 bytes, got {len(digest)}")
        key = self._private_key
        if isinstance(key, Ed25519PrivateKey):
            return key.sign(digest)
        curve = _CURVES[self.scheme]
        # RFC 6979 nonces, as fastcrypto and the TypeScript SDK use: the same key and message give
        # byte-identical signatures everywhere, and no weak RNG can leak the key.
        algorithm = ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True)
        der = key.sign(hashlib.sha256(digest).digest(), algorithm)
        r, s = decode_dss_signature(der)
        if s > curve.half_order:
            s = curve.order - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def sign_personal_message(self, message: bytes) -> str:
        """The serialized signature a Sui wallet returns from ``signPersonalMessage(message)``."""
        signature = self.sign_digest(personal_message_digest(message))
        return serialize_signature(self.scheme, signature, self.public_key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keypair):
            return NotImplemented
        return self.scheme == other.scheme and self.public_key == other.public_key

    def __hash__(self) -> int:
        return hash((self.scheme, self.public_key))
