"""Chain access shared by the operator and the webhook (Sui GraphQL through pysui)."""

from k3s_daas.chain.client import ChainClient
from k3s_daas.chain.enclave import EnclaveConfig, RegisteredEnclave
from k3s_daas.chain.errors import (
    ChainError,
    ChainMalformedAnswer,
    ChainNotFound,
    ChainQueryRejected,
    ChainTransientError,
)
from k3s_daas.chain.metrics import ChainMetrics
from k3s_daas.chain.models import (
    ChainEvent,
    Deployment,
    EventPage,
    SealToken,
    StakeEntry,
    StakeRecord,
    StakeStatus,
    TokenEntry,
)
from k3s_daas.chain.responses import StoredResponse
from k3s_daas.stake import Role

__all__ = [
    "ChainClient",
    "ChainError",
    "ChainEvent",
    "ChainMalformedAnswer",
    "ChainMetrics",
    "ChainNotFound",
    "ChainQueryRejected",
    "ChainTransientError",
    "Deployment",
    "EnclaveConfig",
    "EventPage",
    "RegisteredEnclave",
    "Role",
    "SealToken",
    "StakeEntry",
    "StakeRecord",
    "StakeStatus",
    "StoredResponse",
    "TokenEntry",
]
