"""The Gateway's stored responses of on-chain request mode (``k8s_gateway::K8sResponse``).

Parsed strictly from Sui's JSON rendering (``vector<u8>`` as Base64, u64 as strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from k3s_daas.chain.enclave import as_bytes
from k3s_daas.chain.errors import ChainMalformedAnswer
from k3s_daas.chain.models import as_address, as_u64, field

__all__ = ["StoredResponse", "parse_stored_response"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One ``K8sResponse``: the enclave-signed outcome of a request, and who relayed it when."""

    request_id: int
    status_code: int
    body_digest: bytes
    body: str
    """The body when it is kept on chain; empty when it is kept off chain (docs/onchain-requests.md)."""
    enclave_id: str
    signed_at_ms: int
    signature: bytes
    responder: str
    stored_at_ms: int
    checkpoint: int


def parse_stored_response(data: Mapping[str, object], checkpoint: int) -> StoredResponse:
    what = "K8sResponse"
    status = field(data, "status_code", what)
    if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 0xFFFF:
        raise ChainMalformedAnswer(f"malformed {what}.status_code: {status!r}")
    body = field(data, "body", what)
    if not isinstance(body, str):
        raise ChainMalformedAnswer(f"malformed {what}.body: {body!r}")
    return StoredResponse(
        request_id=as_u64(field(data, "request_id", what), f"{what}.request_id"),
        status_code=status,
        body_digest=as_bytes(field(data, "body_digest", what), f"{what}.body_digest"),
        body=body,
        enclave_id=as_address(field(data, "enclave_id", what), f"{what}.enclave_id"),
        signed_at_ms=as_u64(field(data, "signed_at_ms", what), f"{what}.signed_at_ms"),
        signature=as_bytes(field(data, "signature", what), f"{what}.signature"),
        responder=as_address(field(data, "responder", what), f"{what}.responder"),
        stored_at_ms=as_u64(field(data, "stored_at_ms", what), f"{what}.stored_at_ms"),
        checkpoint=checkpoint,
    )
