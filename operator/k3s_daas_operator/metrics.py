"""Prometheus metrics of the operator, on a registry it owns, served at /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from k3s_daas.chain import ChainMetrics


@dataclass
class OperatorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.chain = ChainMetrics(r)
        self.reconcile_seconds = Histogram(
            "k3s_daas_operator_reconcile_seconds",
            "Time to reconcile one object (chain reads of its batch excluded), by kind and result.",
            ["kind", "result"],
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.objects = Gauge("k3s_daas_operator_objects", "Objects by kind and phase.", ["kind", "phase"], registry=r)
        self.chain_lag_seconds = Gauge(
            "k3s_daas_operator_chain_lag_seconds",
            "Now minus the timestamp of the newest chain event seen (grows while the chain is quiet).",
            registry=r,
        )
        self.last_poll = Gauge(
            "k3s_daas_operator_chain_last_poll_timestamp_seconds",
            "When the event stream was last read successfully (Unix time).",
            registry=r,
        )
        self.chain_confirmed = Gauge(
            "k3s_daas_operator_chain_confirmed_timestamp_seconds",
            "When chain state was last confirmed to be in the cluster (the heartbeat the webhook reads; Unix time).",
            registry=r,
        )
        self.leader = Gauge(
            "k3s_daas_operator_leader", "1 while this instance leads (or runs without leader election).", registry=r
        )
        self.drains_in_progress = Gauge(
            "k3s_daas_operator_drains_in_progress", "Nodes being cordoned and drained.", registry=r
        )
        self.chain_events = Counter(
            "k3s_daas_operator_chain_events", "Package events processed, by event name.", ["event"], registry=r
        )
        self.evictions = Counter(
            "k3s_daas_operator_evictions",
            "Eviction requests, by result (evicted, blocked, gone, error).",
            ["result"],
            registry=r,
        )
        self.events_dropped = Gauge(
            "k3s_daas_operator_kubernetes_events_dropped",
            "Kubernetes Events dropped because posting could not keep up (since start).",
            registry=r,
        )

    def set_events_dropped(self, count: int) -> None:
        self.events_dropped.set(count)

    def set_phase_counts(self, counts: dict[tuple[str, str], int]) -> None:
        self.objects.clear()
        for (kind, phase), count in counts.items():
            self.objects.labels(kind=kind, phase=phase).set(count)


async def serve_metrics(metrics: OperatorMetrics, host: str, port: int) -> web.AppRunner:
    async def scrape(_request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
