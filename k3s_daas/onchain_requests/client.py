"""The request client: submit a request on chain, wait for its response, verify it, fetch its body.

Submission is a signed ``k8s_gateway::submit_request`` transaction through localnet's write
endpoint (``k3s_daas.localnet.client``, the one transaction path this project has); reads go
through ``k3s_daas.chain`` as everywhere else.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Final

import aiohttp

from k3s_daas.chain import ChainClient, ChainError, StoredResponse
from k3s_daas.chain.enclave import RegisteredEnclave
from k3s_daas.errors import UserError
from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.onchain_requests.signing import body_digest
from k3s_daas.onchain_requests.verify import verify_body, verify_response
from k3s_daas.sealtoken import api_claims, sign
from k3s_daas.settings import RequestSettings
from k3s_daas.sui.crypto import Keypair

POLL_INTERVAL_S: Final = 0.02
_EMPTY_DIGEST: Final = body_digest(b"")
_BODY_TOKEN_LIFETIME_S: Final = 120


@dataclass(frozen=True)
class Answer:
    response: StoredResponse
    body: bytes
    enclave: RegisteredEnclave


def kept_off_chain(response: StoredResponse) -> bool:
    """The chain holds the digest only: the body is behind the webhook's /requests/<id>/body."""
    return not response.body and response.body_digest != _EMPTY_DIGEST


async def submit(chain_url: str, key: Keypair, method: str, path: str, payload: str, timeout_s: float) -> int:
    """The request id the chain assigned (``K8sAPIRequest.request_id``)."""
    writer = LocalnetClient(chain_url, timeout_s=timeout_s)
    arguments = {"method": method, "path": path, "payload": payload}
    report = await asyncio.to_thread(writer.call, key, "k8s_gateway", "submit_request", arguments)
    for event in report.get("events") or []:
        if str(event.get("type", "")).endswith("::k8s_gateway::K8sAPIRequest"):
            return int(event["parsedJson"]["request_id"])
    raise UserError("the chain accepted the transaction but emitted no K8sAPIRequest event")


async def wait_for_response(chain: ChainClient, request_id: int, timeout_s: float) -> StoredResponse:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = await chain.response(request_id)
        except ChainError as error:
            raise UserError(f"cannot read the response to request {request_id}: {error}") from None
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise UserError(
                f"no response to request {request_id} after {timeout_s:.0f} s: is a webhook running with "
                "--onchain-requests, and its enclave key registered? (`k3s-daas request verify "
                f"{request_id}` looks again later)"
            )
        await asyncio.sleep(POLL_INTERVAL_S)


async def answer(
    chain: ChainClient, response: StoredResponse, settings: RequestSettings, cluster_id: str, key: Keypair | None
) -> Answer:
    """Verify ``response`` against the registered enclaves and get its body (from the webhook if off chain)."""
    try:
        enclaves = await chain.enclaves()
    except ChainError as error:
        raise UserError(f"cannot read the registered enclaves: {error}") from None
    enclave = verify_response(response, enclaves)
    if not kept_off_chain(response):
        return Answer(response, response.body.encode("utf-8"), enclave)
    if key is None:
        raise UserError(f"the body of response {response.request_id} is kept off chain: only its sender's key reads it")
    body = await fetch_body(settings, cluster_id, key, response.request_id)
    verify_body(response, body)
    return Answer(response, body, enclave)


async def fetch_body(settings: RequestSettings, cluster_id: str, key: Keypair, request_id: int) -> bytes:
    """``GET <webhook>/requests/<id>/body`` with a Seal API token of the sender's key."""
    if not cluster_id:
        raise UserError("the body is kept off chain: the cluster id is needed to sign for it (K3S_DAAS_CLUSTER_ID)")
    token = sign(key, api_claims(key.address, cluster_id, int(time.time()), _BODY_TOKEN_LIFETIME_S))
    context = ssl.create_default_context(cafile=settings.webhook_ca_file or None)
    url = f"{settings.webhook_url.rstrip('/')}/requests/{request_id}/body"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.get(url, headers={"Authorization": f"Bearer {token}"}, ssl=context) as reply,
        ):
            body = await reply.read()
            if reply.status != 200:
                raise UserError(f"{url} answered {reply.status}: {body.decode('utf-8', 'replace')[:300]}")
            return body
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as error:
        raise UserError(f"cannot fetch the off-chain body from {url}: {error!r}") from None
