"""The webhook process hosts the operator's on-chain request executor (docs/onchain-requests.md).

Why here: every response is signed with the enclave key, which exists only in this process's
memory (``k3s_daas_webhook.enclave``), and the identity a request runs as is the authenticator's
own answer for the sender (``decision.decide`` on the same SealToken index), so an on-chain request
runs as exactly the user the sender's kubectl would be. The execution code is the operator's
(``k3s_daas_operator.onchain_requests``).

Also serves ``GET /requests/<id>/body``: a response body kept off chain, to the request's sender
only (``Authorization: Bearer`` a Seal API token of theirs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from k3s_daas.chain import ChainClient, ChainError
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.errors import UserError
from k3s_daas.sealtoken import SealClaims, TokenRejected
from k3s_daas.settings import ChainSettings, RequestSettings
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas.sui.keystore import load_key
from k3s_daas_operator.kube import KubeClient, load_connection
from k3s_daas_operator.onchain_requests.executor import Executor, ExecutorConfig, Identify, Unauthenticated
from k3s_daas_operator.onchain_requests.metrics import ExecutorMetrics
from k3s_daas_operator.onchain_requests.relay import Relay
from k3s_daas_operator.onchain_requests.transport import ImpersonatingTransport, Impersonation
from k3s_daas_webhook.decision import Authenticated, decide
from k3s_daas_webhook.index import IndexHolder
from k3s_daas_webhook.verifier import TokenVerifier

log = logging.getLogger(__name__)

STATUS_HEADER: Final = "X-K3s-Daas-Status-Code"
_IDENTITY_WINDOW_S: Final = 60


def identify(holder: IndexHolder, cluster_id: str, clock: Callable[[], float]) -> Identify:
    """The authenticator's decision for ``sender`` as if it had presented a fresh token of its own."""

    def run(sender: str) -> Impersonation | Unauthenticated:
        now = clock()
        claims = SealClaims(sender, cluster_id, int(now), int(now) + _IDENTITY_WINDOW_S)
        decision = decide(claims, holder.snapshot, now)
        if isinstance(decision, Authenticated):
            identity = decision.identity
            return Impersonation(identity.username, identity.groups, identity.extra)
        return Unauthenticated(f"{decision.reason.value}: {decision.message}")

    return run


def relay_key(settings: RequestSettings) -> Keypair:
    if not settings.relay_key_file:
        # Localnet charges no gas: any key can relay there.
        return Keypair.generate(SignatureScheme.ED25519)
    try:
        text = Path(settings.relay_key_file).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise UserError(f"cannot read the relay key file {settings.relay_key_file}: {error.strerror}") from None
    return load_key(None, None, text, None)


@dataclass
class OnchainRequests:
    """The executor's parts, started with the webhook (``Webhook.start``) and stopped with it."""

    settings: RequestSettings
    chain_settings: ChainSettings
    kubeconfig: str
    executor: Executor | None = None
    metrics: ExecutorMetrics | None = None
    _closers: list[Callable[[], object]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def register_metrics(self, registry: CollectorRegistry) -> ExecutorMetrics:
        """The executor's metrics on ``registry`` (the webhook's, served at /metrics); once per process."""
        if self.metrics is None:
            self.metrics = ExecutorMetrics(registry)
        return self.metrics

    async def start(self, key: EnclaveKey, holder: IndexHolder, cluster_id: str) -> asyncio.Task[None]:
        """The executor's task. It connects to the chain itself, so an unreachable chain delays
        on-chain requests only, never the webhook's start (authentication does not need the chain)."""
        relay = Relay(self.chain_settings.url, relay_key(self.settings), max(self.chain_settings.timeout_s, 10.0))
        connection = await asyncio.to_thread(load_connection, self.kubeconfig)
        kube = KubeClient(connection)
        transport = ImpersonatingTransport(connection, self.settings.execute_timeout_s)
        self._closers += [kube.close, transport.close]

        async def run() -> None:
            chain = await _connect(self.chain_settings)
            self._closers.append(chain.close)
            self.executor = Executor(
                chain=chain,
                kube=kube,
                transport=transport,
                relay=relay,
                key=key,
                identify=identify(holder, cluster_id, time.time),
                identities_ready=lambda: holder.synced,
                metrics=self.metrics or ExecutorMetrics(CollectorRegistry()),
                config=ExecutorConfig(
                    namespace=self.settings.namespace,
                    poll_interval_s=self.settings.poll_interval_s,
                    execute_timeout_s=self.settings.execute_timeout_s,
                    onchain_body_bytes=self.settings.onchain_body_bytes,
                ),
            )
            log.info("on-chain request mode: executor %s (chain %s)", self.executor.instance, self.chain_settings.url)
            await self.executor.run()

        self._task = asyncio.create_task(run(), name="onchain-requests")
        return self._task

    async def stop(self) -> None:
        """Let the request in progress finish (up to ``execute_timeout_s`` and a little for the relay),
        then cancel: cancelled mid-call, a write would be answered 504 "unknown" by the next executor."""
        task = self._task
        if task is None or task.done():
            return
        if self.executor is not None:
            self.executor.stop()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(task), self.settings.execute_timeout_s + 5.0)
        task.cancel()

    async def close(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                result = close()
                if asyncio.iscoroutine(result):
                    await result
        self._closers.clear()


async def _connect(settings: ChainSettings) -> ChainClient:
    delay = 1.0
    while True:
        try:
            return await ChainClient.connect(settings)
        except ChainError as error:
            log.warning("on-chain requests wait for the chain (%s); retrying in %.0f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def body(request: web.Request, onchain: OnchainRequests | None, verifier: TokenVerifier) -> web.Response:
    """``GET /requests/<id>/body``: the recorded body of a request, for its sender."""
    if onchain is None or onchain.executor is None:
        return _error(404, "this server does not run on-chain request mode (--onchain-requests)")
    text = request.match_info["request_id"]
    if not text.isdigit() or len(text) > 20:
        return _error(400, f"request id {text!r} is not a number")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _error(401, "send Authorization: Bearer <a Seal API token of the request's sender>")
    try:
        verified = verifier.cached(token) or await verifier.verify(token)
    except TokenRejected as rejection:
        return _error(401, f"{rejection.reason.value}: {rejection.detail}")
    found = await onchain.executor.read_outcome(int(text))
    if found is None:
        return _error(404, f"no recorded outcome of request {text}")
    sender, outcome = found
    if verified.address != sender:
        return _error(403, f"request {text} was sent by {sender}; only its sender reads its body")
    headers = {STATUS_HEADER: str(outcome.status_code), "Cache-Control": "no-store"}
    return web.Response(body=outcome.body.encode("utf-8"), content_type="application/json", headers=headers)
