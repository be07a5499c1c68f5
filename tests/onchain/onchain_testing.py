"""Helpers of the on-chain request tests: a chain proxy that can hold the executor's transactions,
the webhook (with its executor) as a restartable subprocess, its /metrics, and the request CLI."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from k3s_daas.chain import ChainClient
from k3s_daas.controlplane.processes import ManagedProcess, spawn, stop, wait_until_ready
from k3s_daas.controlplane.webhook_wiring import WebhookEndpoint
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.localnet.enclave import SYSTEM_SENDER, register_for_testing_call
from k3s_daas.localnet.store import Store
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas_operator.kube import KubeClient
from k3s_daas_operator.onchain_requests.claim_store import ClaimStore
from k3s_daas_operator.onchain_requests.executor import Executor, ExecutorConfig
from k3s_daas_operator.onchain_requests.metrics import ExecutorMetrics
from k3s_daas_operator.onchain_requests.relay import Relay
from k3s_daas_operator.onchain_requests.transport import ImpersonatingTransport
from k3s_daas_webhook.index import IndexHolder
from k3s_daas_webhook.onchain import identify

# Shared by the conftest and the test modules (import them from here, never from conftest: another
# folder's conftest module can be the one `import conftest` finds).
CLUSTER_ID = "onchain-requests-test"
RUN = format(int(time.time() * 1000) % 10**8, "x")  # names stay unique across sessions on one cluster
NAMESPACE = f"onchain-{RUN}"
# Small, so a namespace list goes off chain and a ConfigMap create stays on chain.
ONCHAIN_BODY_BYTES = 2048


CLI = str(Path(sys.executable).with_name("k3s-daas"))


@asynccontextmanager
async def running_executor(
    *,
    chain: ChainClient,
    kube: KubeClient,
    transport: ImpersonatingTransport,
    localnet_url: str,
    key: EnclaveKey,
    metrics: ExecutorMetrics,
    claims: ClaimStore,
    name: str,
    execute_timeout_s: float,
) -> AsyncIterator[Executor]:
    """The webhook's executor run in the test process (polling every 50 ms) until the block ends:
    the real API server behind ``kube``/``transport``, the test's own localnet at ``localnet_url``."""
    executor = Executor(
        chain=chain,
        kube=kube,
        transport=transport,
        relay=Relay(localnet_url, Keypair.generate(SignatureScheme.ED25519), 10.0),
        key=key,
        identify=identify(IndexHolder(synced=True), name, time.time),
        identities_ready=lambda: True,
        config=ExecutorConfig(NAMESPACE, 0.05, execute_timeout_s, 12_288),
        metrics=metrics,
        claims=claims,
    )
    task = asyncio.create_task(executor.run())
    try:
        yield executor
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class ChainProxy:
    """A real HTTP proxy in front of a localnet. With ``hold`` set, transactions (POST
    /localnet/v1/execute) are swallowed and never answered: the executor's relay hangs, as it would
    on a chain that stopped answering, until its process is killed."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold = threading.Event()
        self.held = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> ChainProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.path == "/localnet/v1/execute" and self.hold.is_set():
            # Never forwarded, even after ``hold`` is cleared: it belongs to the executor being killed.
            self.held += 1
            await self._closing.wait()
            return web.Response(status=503, text="proxy stopped")
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        async with (
            aiohttp.ClientSession() as session,
            session.request(request.method, self.upstream + request.path_qs, data=body, headers=headers) as upstream,
        ):
            answer = await upstream.read()
            keep = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "x-sui-rpc-version")}
            return web.Response(body=answer, status=upstream.status, headers=keep)

    def stop(self) -> None:
        if self._runner is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


@dataclass
class WebhookProcess:
    """`k3s-daas webhook serve --onchain-requests` as the webhook's ServiceAccount."""

    endpoint: WebhookEndpoint
    argv: list[str]
    env: dict[str, str]
    log: Path
    marker: str
    process: ManagedProcess | None = None
    starts: int = 0
    public_keys: list[bytes] = field(default_factory=list)

    def start(self) -> WebhookProcess:
        self.starts += 1
        self.process = spawn("webhook", self.argv, self.log, self.marker, tie_to_parent=True, environment=self.env)
        context = ssl.create_default_context(cafile=str(self.endpoint.ca_file))
        wait_until_ready(self.process, f"{self.endpoint.url}/readyz", context, self.log, time.monotonic() + 60)
        with urllib.request.urlopen(f"{self.endpoint.url}/attestation", context=context, timeout=10) as answer:
            self.public_keys.append(bytes.fromhex(json.loads(answer.read())["public_key"]))
        return self

    @property
    def public_key(self) -> bytes:
        return self.public_keys[-1]

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, nothing finished."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        stop([self.process])
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop([self.process])
            self.process = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass(frozen=True)
class Scrape:
    """One scrape of a webhook's /metrics: sample (name, labels) -> value."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 for one not exposed (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def delta(self, earlier: Scrape, name: str, **labels: str) -> float:
        return self.value(name, **labels) - earlier.value(name, **labels)

    def labelled(self, prefix: str) -> dict[str, set[str]]:
        """Every label name of the samples whose name starts with ``prefix``, with the values seen."""
        seen: dict[str, set[str]] = {}
        for name, labels in self.samples:
            if name.startswith(prefix):
                for label, value in labels:
                    seen.setdefault(label, set()).add(value)
        return seen


def scrape(endpoint: WebhookEndpoint) -> Scrape:
    context = ssl.create_default_context(cafile=str(endpoint.ca_file))
    with urllib.request.urlopen(f"{endpoint.url}/metrics", context=context, timeout=10) as answer:
        text = answer.read().decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return Scrape(samples)


def expect_test_pcrs(writer: LocalnetClient, admin: Keypair) -> None:
    """The chain expects the test image's PCRs: the development webhook's key is then registered
    under them (register_enclave)."""
    pcrs = {f"pcr{i}": base64.b64encode(bytes([i + 1]) * 48).decode() for i in range(3)}
    writer.call(admin, "enclave", "update_pcrs", {"cap": writer.admin_cap(admin.address), **pcrs})


def register_enclave(store: Store, public_key: bytes) -> str:
    """The development webhook's key registered on localnet (no Nitro document can bind it)."""
    now = int(time.time() * 1000) + store.clock_offset_ms()
    committed = store.execute(register_for_testing_call(public_key, now, SYSTEM_SENDER), SYSTEM_SENDER, now)
    (event,) = committed.effects.events
    return str(event.contents["enclave_id"])


@dataclass(frozen=True)
class RequestCli:
    """`k3s-daas request` with the environment a user gets from `up`'s env file."""

    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "request", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )


def request_env(chain_url: str, package_id: str, cluster_id: str, endpoint: WebhookEndpoint) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(
        K3S_DAAS_CHAIN_URL=chain_url,
        K3S_DAAS_PACKAGE_ID=package_id,
        K3S_DAAS_CLUSTER_ID=cluster_id,
        K3S_DAAS_WEBHOOK_URL=endpoint.url,
        K3S_DAAS_WEBHOOK_CA=str(endpoint.ca_file),
        K3S_DAAS_REQUEST_TIMEOUT_S="60",
    )
    return env
