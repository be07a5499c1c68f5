"""Sui identity primitives: keys, addresses, personal-message signatures and key files."""

from k3s_daas.sui.crypto import (
    AddressError,
    Keypair,
    SignatureError,
    SignatureScheme,
    VerifiedSigner,
    address_from_public_key,
    normalize_address,
    personal_message_digest,
    verify_personal_message,
)

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
