"""Assemble and run the webhook: settings in, a listening HTTPS server with its watch out.

``build`` wires the parts (no network yet); ``Webhook.start`` loads Kubernetes credentials, starts
the SealToken watch, the certificate reloader and the listener; ``Webhook.stop`` undoes exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from k3s_daas.chain_heartbeat import LEASE_NAME, leases_path
from k3s_daas.enclave.provider import ATTESTATION_MODES
from k3s_daas.errors import UserError
from k3s_daas.sealtoken import is_cluster_id
from k3s_daas.settings import WebhookSettings
from k3s_daas_webhook.admission_chain import HEARTBEAT_KIND, ChainHeartbeat
from k3s_daas_webhook.admission_state import AdmissionPolicy, AdmissionSources, split_list
from k3s_daas_webhook.app import WebhookState, create_app
from k3s_daas_webhook.caches import AnswerMemo, ReplayGuard, VerifiedTokenCache
from k3s_daas_webhook.enclave import start_identity
from k3s_daas_webhook.index import IndexHolder
from k3s_daas_webhook.join import JoinConfig, JoinService
from k3s_daas_webhook.kube import KubeClient, load_access
from k3s_daas_webhook.metrics import WebhookMetrics
from k3s_daas_webhook.namespaces import NAMESPACES_PATH, NamespaceOwners
from k3s_daas_webhook.nodeguard import NodeGuardPublisher
from k3s_daas_webhook.snapshots import SnapshotHolder, SnapshotMirror
from k3s_daas_webhook.stakednodes import STAKEDNODES_PATH, NodeSnapshot
from k3s_daas_webhook.tls import ReloadingTLS
from k3s_daas_webhook.verifier import TokenVerifier, VerifierConfig
from k3s_daas_webhook.verifypool import VerifyPool
from k3s_daas_webhook.watcher import ListWatcher, sealtoken_watcher

if TYPE_CHECKING:
    from k3s_daas_webhook.onchain import OnchainRequests

log = logging.getLogger(__name__)


class WebhookConfigError(UserError):
    """A webhook setting that is missing or unusable."""


def check_settings(settings: WebhookSettings) -> None:
    if not settings.cluster_id:
        raise WebhookConfigError("the cluster id is required (--cluster-id or K3S_DAAS_CLUSTER_ID)")
    if not is_cluster_id(settings.cluster_id):
        raise WebhookConfigError(f"cluster id {settings.cluster_id!r}: use 1-63 of [a-z0-9.-]")
    if not settings.cert_file or not settings.key_file:
        raise WebhookConfigError(
            "TLS only: --cert-file and --key-file (K3S_DAAS_WEBHOOK_CERT_FILE/_KEY_FILE) are required"
        )
    if settings.verified_cache_size < 1:
        raise WebhookConfigError("the verified-token cache needs room for at least one token")
    if not settings.operator_username:
        raise WebhookConfigError("the operator's username is required (--operator-username)")
    if not _DNS_LABEL.fullmatch(settings.project_namespace):
        raise WebhookConfigError(f"project namespace {settings.project_namespace!r} is not a namespace name")
    for node in split_list(settings.static_nodes):
        if not _DNS_SUBDOMAIN.fullmatch(node):
            raise WebhookConfigError(f"static node {node!r} is not a Node name (lowercase DNS subdomain)")
    if settings.node_guard_policy and not _DNS_SUBDOMAIN.fullmatch(settings.node_guard_policy):
        raise WebhookConfigError(f"node guard policy {settings.node_guard_policy!r} is not an object name")
    if settings.attestation_mode not in ATTESTATION_MODES:
        raise WebhookConfigError(
            f"attestation mode {settings.attestation_mode!r}: use one of {', '.join(ATTESTATION_MODES)}"
        )


_CLEANUP_TIMEOUT_S = 1.0
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass
class Webhook:
    settings: WebhookSettings
    state: WebhookState
    tls: ReloadingTLS
    pool: VerifyPool | None
    runner: web.AppRunner | None = None
    client: KubeClient | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    port: int = 0

    async def start(self, *, watch: bool = True, benchmark_noop: bool = False) -> None:
        """Listen, and (with ``watch``) load credentials and feed the index from the API server.

        ``benchmark_noop`` adds POST /noop, the benchmark's baseline on this same stack."""
        try:
            await self._start(watch, benchmark_noop)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, watch: bool, benchmark_noop: bool) -> None:
        settings = self.settings
        if self.pool is not None:
            await self.pool.start()
        if watch:
            access = await asyncio.to_thread(load_access, settings.kubeconfig)
            self.client = KubeClient.create(access)
            ca_bundle = _ca_bundle(settings, access.ca_bundle())
            if ca_bundle is None:
                log.warning("no cluster CA bundle (--cluster-ca-file, or a CA in the kubeconfig): /join is off")
            else:
                self.state.join = JoinService(
                    self.client,
                    JoinConfig(
                        cluster_id=settings.cluster_id,
                        leeway_s=settings.leeway_s,
                        max_lifetime_s=settings.join_max_lifetime_s,
                        ca_bundle=ca_bundle,
                        agent_server_url=settings.agent_server_url,
                    ),
                    ReplayGuard(settings.join_replay_cache_size),
                    self.state.clock,
                )
            self._start_watches(self.client)
            onchain, enclave = self.state.onchain, self.state.enclave
            if onchain is not None and enclave is not None:
                onchain.register_metrics(self.state.metrics.registry)
                self.tasks.append(await onchain.start(enclave.key, self.state.holder, settings.cluster_id))
        else:
            # No Kubernetes access: the admission state given to build() is all there is.
            sources = self.state.sources
            if not sources.nodes.synced:
                sources.nodes.publish(sources.nodes.snapshot)
            if not sources.namespaces.synced:
                sources.namespaces.publish(sources.namespaces.snapshot)
        self.tasks.append(asyncio.create_task(self.tls.watch(settings.cert_reload_interval_s), name="tls-reload"))
        app = create_app(self.state, benchmark_noop=benchmark_noop)
        self.runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            # A body refused unread (413) is read and discarded for at most this long before the
            # connection closes: closing at once resets a client that is still sending, which then
            # never sees the 413 (measured: 1 in 10 such requests). Bounded, and the body is dropped.
            lingering_time=1.0,
            # Runs after _finish_requests has waited out the deadline: little time left for stragglers.
            shutdown_timeout=_CLEANUP_TIMEOUT_S,
            # aiohttp's keep-alive timer also runs from the moment a connection opens until a request
            # head is complete: the bound on slow-loris clients (aiohttp's default is an hour).
            keepalive_timeout=settings.idle_timeout_s,
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, settings.host, settings.port, ssl_context=self.tls.context, backlog=1024)
        try:
            await site.start()
        except OSError as error:
            raise UserError(f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}") from None
        addresses = self.runner.addresses  # the bound port, when 0 asked for any free one
        self.port = int(addresses[0][1]) if addresses else settings.port
        log.info("webhook listening on https://%s:%d (cluster %s)", settings.host, self.port, settings.cluster_id)

    def _start_watches(self, client: KubeClient) -> None:
        """SealTokens (identity), StakedNodes (Node guard) and Namespaces (owners), each list + watch."""
        state, metrics = self.state, self.state.metrics
        sources = state.sources
        nodes = SnapshotMirror(
            "StakedNode",
            STAKEDNODES_PATH,
            sources.nodes,
            NodeSnapshot.from_items,
            objects=metrics.admission_index_objects.labels("stakednodes"),
            synced=metrics.admission_index_synced.labels("stakednodes"),
            restarted=lambda cause: metrics.admission_watch_restarts.labels("stakednodes", cause).inc(),
        )
        namespaces = SnapshotMirror(
            "Namespace",
            NAMESPACES_PATH,
            sources.namespaces,
            NamespaceOwners.from_items,
            objects=metrics.admission_index_objects.labels("namespaces"),
            synced=metrics.admission_index_synced.labels("namespaces"),
            restarted=lambda cause: metrics.admission_watch_restarts.labels("namespaces", cause).inc(),
        )
        heartbeat = SnapshotMirror(
            HEARTBEAT_KIND,
            leases_path(self.settings.project_namespace),
            sources.chain,
            ChainHeartbeat.from_items,
            objects=metrics.admission_index_objects.labels("chainheartbeat"),
            synced=metrics.admission_index_synced.labels("chainheartbeat"),
            restarted=lambda cause: metrics.admission_watch_restarts.labels("chainheartbeat", cause).inc(),
        )
        watchers = {
            "sealtoken-watch": sealtoken_watcher(client, state.holder, metrics),
            "stakednode-watch": ListWatcher(client, nodes),
            "namespace-watch": ListWatcher(client, namespaces),
            "chain-heartbeat-watch": ListWatcher(client, heartbeat, field_selector=f"metadata.name={LEASE_NAME}"),
        }
        if self.settings.node_guard_policy:
            publisher = NodeGuardPublisher(
                client,
                self.settings.node_guard_policy,
                sources.nodes,
                state.policy.static_nodes,
                metrics,
            )
            nodes.on_change.append(publisher.notify)
            self.tasks.append(asyncio.create_task(publisher.run(), name="node-guard-policy"))
        for name, watcher in watchers.items():
            self.tasks.append(asyncio.create_task(watcher.run(), name=name))

    async def drain(self, interrupted: asyncio.Event | None = None) -> None:
        """Report not-ready on /readyz and keep serving for the grace period (or until ``interrupted``),
        so endpoints and load balancers stop sending new requests before the listener closes."""
        self.state.shutting_down = True
        grace_s = self.settings.shutdown_grace_s
        log.info("shutting down: /readyz answers 503, still serving for %.1f s", grace_s)
        if interrupted is None:
            await asyncio.sleep(grace_s)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(interrupted.wait(), grace_s)

    async def _finish_requests(self, runner: web.AppRunner) -> None:
        """Close the listener, wait for running handlers (their bodies may still be arriving: the
        connections stay open meanwhile) up to the deadline, then close every connection."""
        timeout_s = self.settings.shutdown_timeout_s
        log.info("closing the listener; %d requests in flight get %.1f s", self.state.in_flight, timeout_s)
        for site in list(runner.sites):
            await site.stop()
        if self.state.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.state.idle.wait(), timeout_s)
        if self.state.in_flight:
            log.warning("%d requests still running after %.1f s: cancelling them", self.state.in_flight, timeout_s)
        await runner.cleanup()

    async def stop(self) -> None:
        """Stop listening, let requests in flight finish (up to ``shutdown_timeout_s``), then stop the
        watches, the certificate reloader, the Kubernetes client and the verification workers: in that
        order, because a request in flight may still need the workers (first-seen tokens) or the client (/join)."""
        if self.runner is not None:
            await self._finish_requests(self.runner)
            self.runner = None
        if self.state.onchain is not None:
            await self.state.onchain.stop()  # before the cancel below: not mid-request
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        if self.state.onchain is not None:
            await self.state.onchain.close()
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.pool is not None:
            await self.pool.close()


def _ca_bundle(settings: WebhookSettings, from_kubeconfig: bytes | None) -> bytes | None:
    if settings.cluster_ca_file:
        try:
            return Path(settings.cluster_ca_file).read_bytes()
        except OSError as error:
            raise WebhookConfigError(
                f"cannot read the cluster CA file {settings.cluster_ca_file}: {error.strerror}"
            ) from None
    return from_kubeconfig


def build(
    settings: WebhookSettings,
    holder: IndexHolder | None = None,
    clock: Callable[[], float] = time.time,
    admission: AdmissionSources | None = None,
    onchain: OnchainRequests | None = None,
) -> Webhook:
    """Wire the parts. ``holder``, ``admission`` and ``clock`` let a caller supply the indexes and the
    time (tests, the benchmark); ``admission.tokens`` is then the SealToken index."""
    check_settings(settings)
    # The enclave key is born here, at server start, and stays in memory (k3s_daas_webhook.enclave).
    enclave = start_identity(settings)
    metrics = WebhookMetrics()
    metrics.set_enclave_mode(enclave.mode, enclave.dev_mode)
    tls = ReloadingTLS(
        Path(settings.cert_file),
        Path(settings.key_file),
        lambda result: metrics.certificate_reloads.labels(result).inc(),
    )
    # 0 workers: verify on the event loop itself (no hand-off, but the loop waits for each check).
    pool = VerifyPool(settings.verify_workers) if settings.verify_workers > 0 else None
    verifier = TokenVerifier(
        VerifierConfig(settings.cluster_id, settings.leeway_s, settings.max_token_lifetime_s),
        VerifiedTokenCache(settings.verified_cache_size, settings.leeway_s),
        pool,
        metrics,
        clock,
    )
    if admission is not None:
        holder = admission.tokens
    holder = holder or IndexHolder()
    state = WebhookState(
        holder=holder,
        verifier=verifier,
        metrics=metrics,
        clock=clock,
        # Request bodies are ~1 KiB each: a smaller bound than the verified-token cache's.
        memo=AnswerMemo(min(settings.verified_cache_size, 10_000)),
        admission=admission
        or AdmissionSources(holder, SnapshotHolder(NodeSnapshot()), SnapshotHolder(NamespaceOwners())),
        policy=AdmissionPolicy.from_settings(settings),
        enclave=enclave,
        onchain=onchain,
        body_timeout_s=settings.body_timeout_s,
    )
    chain = state.sources.chain
    metrics.track_chain(
        lambda: chain.snapshot.staleness(clock()),
        lambda: chain.snapshot.seen,
        settings.max_chain_staleness_s,
    )
    return Webhook(settings, state, tls, pool)


async def serve_forever(settings: WebhookSettings, onchain: OnchainRequests | None = None) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully (docs/logging-and-shutdown.md): /readyz
    503 while still serving for the grace period, then close the listener and finish requests in
    flight. A second signal cuts the grace period short."""
    webhook = build(settings, onchain=onchain)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await webhook.start()
    try:
        await stopping.wait()
        stopping.clear()
        await webhook.drain(stopping)
    finally:
        await webhook.stop()
        log.info("stopped")
