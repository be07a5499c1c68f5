"""The enclave key and what it signs, in the encoding of Mysten's Nautilus.

The enclave (the webhook in its TEE) generates an Ed25519 key when it starts, binds the public key
into its attestation document and signs with it what it reports on chain. The key lives in this
process's memory only: :class:`EnclaveKey` has no way to export the secret, refuses to be pickled
and never shows it in ``repr``. A restarted enclave has a new key and must be registered again
(``enclave::register_enclave``), which is the point: only a key born inside an attested enclave
is ever registered.

What is signed is the BCS encoding of Nautilus's ``IntentMessage<T> { intent: u8, timestamp_ms:
u64, data: T }`` (``to_signed_response`` in nautilus-server ``common.rs``; the Move side is
``enclave::IntentMessage``), with plain Ed25519 over those bytes (no hashing, no Sui intent
prefix). Since BCS encodes a struct as its fields back to back, the signed bytes are
``u8(intent) || u64_le(timestamp_ms) || bcs(data)``: a verifier needs only ``bcs(data)``, which is
why payloads travel here as their BCS bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from k3s_daas.enclave.errors import EnclaveSignatureError
from k3s_daas.sui import bcs

__all__ = ["EnclaveKey", "IntentMessage", "SignedMessage", "verify_signed_message"]

PUBLIC_KEY_LENGTH = 32
SIGNATURE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class IntentMessage:
    """``IntentMessage<T>`` with ``T`` given as its BCS bytes (``payload``)."""

    intent: int
    timestamp_ms: int
    payload: bytes

    def __post_init__(self) -> None:
        bcs.u8(self.intent)  # range checks: fail when built, not when signed
        bcs.u64(self.timestamp_ms)

    def signing_bytes(self) -> bytes:
        """``bcs::to_bytes(&IntentMessage { intent, timestamp_ms, payload })``."""
        return bcs.u8(self.intent) + bcs.u64(self.timestamp_ms) + self.payload


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """A message, its Ed25519 signature and the enclave public key that made it."""

    message: IntentMessage
    signature: bytes
    public_key: bytes

    def to_json(self) -> dict[str, Any]:
        """The wire form; the arguments of ``enclave::record_message`` are these fields."""
        return {
            "intent": self.message.intent,
            "timestamp_ms": self.message.timestamp_ms,
            "payload": self.message.payload.hex(),
            "signature": self.signature.hex(),
            "public_key": self.public_key.hex(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SignedMessage:
        try:
            message = IntentMessage(int(value["intent"]), int(value["timestamp_ms"]), bytes.fromhex(value["payload"]))
            return cls(message, bytes.fromhex(value["signature"]), bytes.fromhex(value["public_key"]))
        except (KeyError, TypeError, ValueError) as error:
            raise EnclaveSignatureError(f"not a signed enclave message: {error}") from None


def verify_signed_message(public_key: bytes, message: IntentMessage, signature: bytes) -> None:
    """Raises :class:`EnclaveSignatureError` unless ``signature`` is ``public_key``'s over ``message``."""
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise EnclaveSignatureError(f"an enclave public key is {PUBLIC_KEY_LENGTH} bytes, got {len(public_key)}")
    if len(signature) != SIGNATURE_LENGTH:
        raise EnclaveSignatureError(f"an Ed25519 signature is {SIGNATURE_LENGTH} bytes, got {len(signature)}")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message.signing_bytes())
    except InvalidSignature:
        raise EnclaveSignatureError("enclave signature does not verify") from None
    except ValueError:
        raise EnclaveSignatureError("enclave public key is not a valid Ed25519 point") from None


class EnclaveKey:
    """An Ed25519 key held in memory only. Create it with :meth:`generate` at enclave start."""

    __slots__ = ("_private", "_public")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        # Taking a key object (not bytes) keeps secrets out of configuration paths; tests pass a
        # fixed key to get reproducible signatures.
        self._private = private_key
        self._public = private_key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> EnclaveKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key, as bound into the attestation document."""
        return self._public

    def sign(self, message: IntentMessage) -> SignedMessage:
        return SignedMessage(message, self._private.sign(message.signing_bytes()), self._public)

    def sign_payload(self, intent: int, timestamp_ms: int, payload: bytes) -> SignedMessage:
        return self.sign(IntentMessage(intent, timestamp_ms, payload))

    def __repr__(self) -> str:
        return f"EnclaveKey(public_key={self._public.hex()})"

    def __reduce__(self) -> NoReturn:
        # Pickling is how a key ends up in a file or another process; the enclave key must not.
        raise TypeError("an EnclaveKey stays in the memory of the process that generated it")

    def __copy__(self) -> NoReturn:
        raise TypeError("an EnclaveKey is not copied")

    def __deepcopy__(self, memo: dict[int, Any]) -> NoReturn:
        raise TypeError("an EnclaveKey is not copied")
