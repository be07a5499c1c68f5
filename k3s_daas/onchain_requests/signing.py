"""What the enclave signs for an on-chain response, and its check (``k8s_gateway.move``).

The message is Nautilus's ``IntentMessage { intent: RESPONSE_INTENT, timestamp_ms, payload }`` in
BCS with ``payload = K8sResponsePayload { request_id: u64, status_code: u16, body_digest:
vector<u8> }``, signed with Ed25519 by the enclave key (docs/enclave.md allocates the intent).
"""

from __future__ import annotations

import hashlib
from typing import Final

from k3s_daas.enclave.keys import IntentMessage, verify_signed_message
from k3s_daas.sui import bcs

__all__ = ["DIGEST_LENGTH", "RESPONSE_INTENT", "body_digest", "response_message", "valid_body_digest"]

RESPONSE_INTENT: Final = 1
"""``k8s_gateway::RESPONSE_INTENT``: the intent of ``IntentMessage<K8sResponsePayload>``."""
DIGEST_LENGTH: Final = 32


def body_digest(body: bytes) -> bytes:
    """SHA-256 of the body, as the API server sent it."""
    return hashlib.sha256(body).digest()


def response_payload(request_id: int, status_code: int, digest: bytes) -> bytes:
    """``bcs(K8sResponsePayload { request_id, status_code, body_digest })``."""
    return bcs.u64(request_id) + bcs.u16(status_code) + bcs.byte_vector(digest)


def response_message(request_id: int, status_code: int, digest: bytes, signed_at_ms: int) -> IntentMessage:
    return IntentMessage(RESPONSE_INTENT, signed_at_ms, response_payload(request_id, status_code, digest))


def valid_body_digest(body: str, digest: bytes) -> bool:
    """``k8s_gateway::valid_body_digest``: 32 bytes, and the body's own SHA-256 when the body is on chain."""
    if len(digest) != DIGEST_LENGTH:
        return False
    return not body or body_digest(body.encode("utf-8")) == digest


def verify_response_signature(
    public_key: bytes, request_id: int, status_code: int, digest: bytes, signed_at_ms: int, signature: bytes
) -> None:
    """Raises ``EnclaveSignatureError`` unless ``signature`` is ``public_key``'s over the response."""
    verify_signed_message(public_key, response_message(request_id, status_code, digest, signed_at_ms), signature)
