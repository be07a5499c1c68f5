"""The executor's Prometheus metrics, registered on the registry of the process that runs it (the
webhook's ``/metrics``: ``k3s_daas_webhook.onchain``).

Label values come from the fixed sets below only, never a path, an address or a request id: an
auditor reads those from the chain, not from Prometheus.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# How an answer came about (the ``outcome`` label of the answered counter).
EXECUTED: Final = "executed"
"""The API server answered, as the sender."""
REFUSED: Final = "refused"
"""The request failed the executor's checks (``requests.plan``): answered without execution."""
UNAUTHENTICATED: Final = "unauthenticated"
"""The sender has no usable Seal token: 401."""
INTERRUPTED: Final = "interrupted"
"""A write whose executor stopped mid-execution: 504, not executed again."""
UNREACHABLE: Final = "unreachable"
"""A write the API server could not be asked about: 504, not executed again."""
TAMPERED: Final = "tampered"
"""Its claim ConfigMap was not written by an executor: 500, its contents never relayed."""
OUTCOMES: Final = (EXECUTED, REFUSED, UNAUTHENTICATED, INTERRUPTED, UNREACHABLE, TAMPERED)
STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")

# store_k8s_response results (``relay.Relayed`` values, and a failed transaction).
RELAY_FAILED: Final = "failed"
RELAY_RESULTS: Final = ("stored", "already_stored", "enclave_not_current", RELAY_FAILED)

# Where a claim was lost to another executor (its create or update answered 409).
LOST_AT: Final = ("claim", "take_over", "record")

# Whose recorded outcome a relay sends again.
THIS_INSTANCE: Final = "this_instance"
"""An earlier relay of this process failed: retried."""
ANOTHER_INSTANCE: Final = "another_instance"
"""Recorded by another executor: this one's previous process (a restart) or another replica."""

# From a few hundred milliseconds (the chain round trip) to the minutes a waiting executor takes.
_RESPONSE_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


def status_class(status_code: int) -> str:
    """``2xx`` for 201; a code outside 100-599 (never sent by an API server) counts as ``5xx``."""
    return f"{status_code // 100}xx" if 100 <= status_code <= 599 else "5xx"


class ExecutorMetrics:
    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> None:
        r = registry
        self._clock = clock
        self._oldest_pending_ms: int | None = None
        self.answered = Counter(
            "k3s_daas_onchain_requests_answered_total",
            "On-chain requests answered by this executor (an outcome signed and recorded), by outcome and status class",
            ["outcome", "code"],
            registry=r,
        )
        self.relays = Counter(
            "k3s_daas_onchain_requests_relays_total",
            "store_k8s_response transactions, by result (failed: refused for another reason, or no answer)",
            ["result"],
            registry=r,
        )
        self.response_seconds = Histogram(
            "k3s_daas_onchain_requests_response_seconds",
            "Time from the K8sAPIRequest event (its chain timestamp) to the response this executor stored",
            buckets=_RESPONSE_BUCKETS,
            registry=r,
        )
        self.claims_lost = Counter(
            "k3s_daas_onchain_requests_claims_lost_total",
            "Claims lost to another executor (409 on the claim's create or update), by step",
            ["at"],
            registry=r,
        )
        self.rerelays = Counter(
            "k3s_daas_onchain_requests_rerelays_total",
            "Recorded outcomes relayed again (the request was executed once), by who recorded them",
            ["recorded_by"],
            registry=r,
        )
        self.claims_tampered = Counter(
            "k3s_daas_onchain_requests_claims_tampered_total",
            "Claims no executor wrote (wrong request, or an outcome without a registered enclave's valid signature)",
            registry=r,
        )
        self.pending = Gauge(
            "k3s_daas_onchain_requests_pending",
            "Requests read from the chain and not answered there yet: how far the cursor trails the events",
            registry=r,
        )
        self.oldest_pending_age = Gauge(
            "k3s_daas_onchain_requests_oldest_pending_age_seconds",
            "Age of the oldest request read and not answered yet (from its chain timestamp); 0 when none",
            registry=r,
        )
        self.oldest_pending_age.set_function(self._oldest_pending_age_s)
        self.last_poll = Gauge(
            "k3s_daas_onchain_requests_last_poll_timestamp_seconds",
            "When K8sAPIRequest events were last read successfully (Unix time)",
            registry=r,
        )
        self.enclave_registered = Gauge(
            "k3s_daas_onchain_requests_enclave_registered",
            "1 while this executor's enclave key is registered under the current PCRs; 0: it executes nothing",
            registry=r,
        )
        # Every fixed label value exported from the start, so rate() sees a series' first increase.
        for result in RELAY_RESULTS:
            self.relays.labels(result)
        for at in LOST_AT:
            self.claims_lost.labels(at)
        for who in (THIS_INSTANCE, ANOTHER_INSTANCE):
            self.rerelays.labels(who)

    def count_answer(self, outcome: str, status_code: int) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
        self.answered.labels(outcome, status_class(status_code)).inc()

    def set_pending(self, count: int, oldest_ms: int | None) -> None:
        """``oldest_ms``: the chain timestamp of the oldest pending request (None: none, or unknown)."""
        self.pending.set(count)
        self._oldest_pending_ms = oldest_ms if count else None

    def _oldest_pending_age_s(self) -> float:
        # Computed at scrape time, so it keeps rising while the executor is stuck.
        if self._oldest_pending_ms is None:
            return 0.0
        return max(0.0, self._clock() - self._oldest_pending_ms / 1000)
