"""Prometheus metrics on an explicit registry (never the process-global one).

One latency histogram labelled by result, as aws-iam-authenticator does; denials counted by reason.
Label values come from fixed enums only: never a token, an address or a node name.
In on-chain request mode the executor's metrics (``k3s_daas_onchain_requests_*``,
``k3s_daas_operator.onchain_requests.metrics``) join this registry (``OnchainRequests.register_metrics``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

AUTHENTICATED: Final = "authenticated"
DENIED: Final = "denied"
BAD_REQUEST: Final = "bad_request"
UNAVAILABLE: Final = "unavailable"
RESULTS: Final = (AUTHENTICATED, DENIED, BAD_REQUEST, UNAVAILABLE)
# AdmissionReview decisions (the latency histogram's label); denials are counted by rule.
ALLOWED: Final = "allowed"
DECISIONS: Final = (ALLOWED, DENIED, BAD_REQUEST, UNAVAILABLE)
# /attestation answers (BAD_REQUEST: a malformed nonce; UNAVAILABLE: the NSM failed).
SERVED: Final = "served"

# Sub-millisecond resolution where the budget is (cached p99 <= 2 ms), coarse beyond.
_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class WebhookMetrics:
    content_type: Final = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.authn_latency = Histogram(
            "k3s_daas_authn_request_duration_seconds",
            "TokenReview handling time, by result",
            ["result"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.authn_denials = Counter(
            "k3s_daas_authn_denials_total",
            "TokenReviews answered authenticated=false, by reason",
            ["reason"],
            registry=r,
        )
        self.signature_cache = Counter(
            "k3s_daas_authn_signature_cache_total", "Verified-token cache lookups, by outcome", ["outcome"], registry=r
        )
        self.signature_cache_entries = Gauge(
            "k3s_daas_authn_signature_cache_entries", "Tokens in the verified-token cache", registry=r
        )
        self.index_tokens = Gauge("k3s_daas_index_sealtokens", "SealToken resources in the identity index", registry=r)
        self.index_synced = Gauge("k3s_daas_index_synced", "1 once the SealToken list has been loaded", registry=r)
        self.watch_restarts = Counter(
            "k3s_daas_index_watch_restarts_total", "SealToken watch restarts, by cause", ["cause"], registry=r
        )
        self.join_requests = Counter(
            "k3s_daas_join_requests_total", "/join requests, by result", ["result"], registry=r
        )
        self.certificate_reloads = Counter(
            "k3s_daas_tls_certificate_reloads_total", "Serving certificate reloads, by result", ["result"], registry=r
        )
        self.admission_latency = Histogram(
            "k3s_daas_admission_request_duration_seconds",
            "AdmissionReview handling time, by decision",
            ["decision"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.admission_denials = Counter(
            "k3s_daas_admission_denials_total", "AdmissionReviews answered allowed=false, by rule", ["rule"], registry=r
        )
        self.admission_index_objects = Gauge(
            "k3s_daas_admission_index_objects",
            "Objects in the admission indexes (StakedNodes; Namespaces with an owner)",
            ["resource"],
            registry=r,
        )
        self.admission_index_synced = Gauge(
            "k3s_daas_admission_index_synced", "1 once the resource's list has been loaded", ["resource"], registry=r
        )
        self.admission_watch_restarts = Counter(
            "k3s_daas_admission_watch_restarts_total",
            "StakedNode and Namespace watch restarts, by cause",
            ["resource", "cause"],
            registry=r,
        )
        self.node_guard_writes = Counter(
            "k3s_daas_node_guard_policy_writes_total",
            "Updates of the node-guard ValidatingAdmissionPolicy's list of admitted nodes, by result",
            ["result"],
            registry=r,
        )
        self.enclave_dev_mode = Gauge(
            "k3s_daas_enclave_dev_mode",
            "1 when /attestation serves development documents (no TEE: they attest nothing), 0 in a Nitro enclave",
            registry=r,
        )
        self.enclave_info = Gauge(
            "k3s_daas_enclave_info", "1 for the attestation mode in force (nitro or development)", ["mode"], registry=r
        )
        self.attestation_requests = Counter(
            "k3s_daas_attestation_requests_total", "/attestation requests, by result", ["result"], registry=r
        )
        self.chain_staleness = Gauge(
            "k3s_daas_webhook_chain_staleness_seconds",
            "Seconds since the operator last confirmed chain state (its heartbeat Lease); NaN when none was seen",
            registry=r,
        )
        self.chain_max_staleness = Gauge(
            "k3s_daas_webhook_chain_max_staleness_seconds",
            "The configured maximum staleness: past it, Seal users' writes are refused",
            registry=r,
        )
        self.chain_heartbeat_seen = Gauge(
            "k3s_daas_webhook_chain_heartbeat_seen", "1 when a chain heartbeat Lease is known, else 0", registry=r
        )
        # Children resolved once: .labels() costs a lock and a dict lookup per call on the hot path.
        self.latency_by_result = {result: self.authn_latency.labels(result) for result in RESULTS}
        self.latency_by_decision = {decision: self.admission_latency.labels(decision) for decision in DECISIONS}
        self.cache_hit = self.signature_cache.labels("hit")
        self.cache_miss = self.signature_cache.labels("miss")

    def track_chain(self, staleness: Callable[[], float], seen: Callable[[], bool], max_staleness_s: float) -> None:
        """Staleness is computed at scrape time, so it keeps rising while no heartbeat arrives."""
        self.chain_staleness.set_function(staleness)
        self.chain_heartbeat_seen.set_function(lambda: 1.0 if seen() else 0.0)
        self.chain_max_staleness.set(max_staleness_s)

    def set_enclave_mode(self, mode: str, dev_mode: bool) -> None:
        self.enclave_dev_mode.set(1 if dev_mode else 0)
        self.enclave_info.labels(mode).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
