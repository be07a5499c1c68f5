"""Relaying a signed outcome: the ``k8s_gateway::store_k8s_response`` transaction.

Anybody may relay (the enclave signature is what the chain checks); the relay key only signs and
pays for the transaction. Transactions go through localnet's write endpoint
(``k3s_daas.localnet.client``), the one transaction path this project has; on a Sui network a
relay submits the same call with ``sui client call`` (docs/onchain-requests.md).
"""

from __future__ import annotations

import asyncio
import base64
import enum

from k3s_daas.localnet.client import LocalnetClient, LocalnetError
from k3s_daas.sui.crypto import Keypair
from k3s_daas_operator.onchain_requests.claims import SignedOutcome


class Relayed(enum.Enum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"
    """Another executor relayed it first (``EResponseExists``): the request is answered."""
    ENCLAVE_NOT_CURRENT = "enclave_not_current"
    """The signing enclave was registered under replaced PCRs: sign again with a current one."""


class RelayError(Exception):
    """The chain refused the transaction for another reason, or could not be reached."""


class Relay:
    def __init__(self, chain_url: str, key: Keypair, timeout_s: float) -> None:
        self._client = LocalnetClient(chain_url, timeout_s=timeout_s)
        self._key = key

    async def store(self, request_id: int, outcome: SignedOutcome, onchain_body_bytes: int) -> Relayed:
        body = outcome.body if len(outcome.body.encode("utf-8")) <= onchain_body_bytes else ""
        arguments = {
            "enclave": outcome.enclave_id,
            "request_id": request_id,
            "status_code": outcome.status_code,
            "body_digest": base64.b64encode(outcome.body_digest).decode(),
            "body": body,
            "signed_at_ms": outcome.signed_at_ms,
            "signature": base64.b64encode(outcome.signature).decode(),
        }
        try:
            await asyncio.to_thread(self._client.call, self._key, "k8s_gateway", "store_k8s_response", arguments)
        except LocalnetError as error:
            name = error.details.get("abortName")
            if name == "EResponseExists":
                return Relayed.ALREADY_STORED
            if name == "EEnclaveNotCurrent":
                return Relayed.ENCLAVE_NOT_CURRENT
            raise RelayError(str(error)) from None
        return Relayed.STORED
