"""The chain client's latency histogram, registered on a registry the caller owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Histogram

METRIC_NAME: Final = "k3s_daas_chain_request_seconds"
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ChainMetrics:
    """One per registry: share it between clients that export through the same registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    latency: Histogram = field(init=False, repr=False)

    def __post_init__(self) -> None:
        histogram = Histogram(
            METRIC_NAME,
            "Latency of Sui GraphQL reads, per operation and outcome "
            "(ok, not_found, transient, malformed, rejected); retries count as separate requests.",
            ["operation", "outcome"],
            registry=self.registry,
            buckets=BUCKETS,
        )
        object.__setattr__(self, "latency", histogram)

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        self.latency.labels(operation=operation, outcome=outcome).observe(seconds)
