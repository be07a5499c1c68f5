"""Checking a stored response as its reader does: the enclave's signature and the body digest.

The chain already checked the signature when the response was stored; the reader checks again
with the registered enclave key it reads itself, so a tampered answer of the GraphQL endpoint (or
of anything between) is refused, and checks that the body it got, on chain or off, is the one the
enclave signed for.
"""

from __future__ import annotations

from collections.abc import Iterable

from k3s_daas.chain.enclave import RegisteredEnclave
from k3s_daas.chain.responses import StoredResponse
from k3s_daas.enclave.errors import EnclaveSignatureError
from k3s_daas.errors import UserError
from k3s_daas.onchain_requests.signing import body_digest, verify_response_signature


class ResponseRejected(UserError):
    """The response is not what a registered enclave signed; ``reason`` is stable for scripts."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def verify_response(response: StoredResponse, enclaves: Iterable[RegisteredEnclave]) -> RegisteredEnclave:
    """The enclave that signed ``response``; raises :class:`ResponseRejected` otherwise."""
    signer = next((e for e in enclaves if e.object_id == response.enclave_id), None)
    if signer is None:
        raise ResponseRejected(
            "unknown_enclave",
            f"response {response.request_id} names enclave {response.enclave_id}, which is not registered",
        )
    try:
        verify_response_signature(
            signer.public_key,
            response.request_id,
            response.status_code,
            response.body_digest,
            response.signed_at_ms,
            response.signature,
        )
    except EnclaveSignatureError as error:
        raise ResponseRejected(
            "bad_signature", f"response {response.request_id} is not signed by enclave {signer.object_id}: {error}"
        ) from None
    if response.body:
        verify_body(response, response.body.encode("utf-8"))
    return signer


def verify_body(response: StoredResponse, body: bytes) -> None:
    if body_digest(body) != response.body_digest:
        raise ResponseRejected(
            "bad_body_digest",
            f"the body of response {response.request_id} is not the one the enclave signed (SHA-256 differs)",
        )
