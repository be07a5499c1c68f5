"""Typed failures of chain access, so callers can tell "retry later" from "this is the answer"."""

from __future__ import annotations

from k3s_daas.errors import UserError


class ChainError(UserError):
    """Reading the chain failed; ``operation`` names the read (as in the latency histogram)."""

    def __init__(self, message: str, *, operation: str = "") -> None:
        super().__init__(message)
        self.operation = operation


class ChainNotFound(ChainError):
    """The object (or table entry) does not exist, or is not of the expected type."""


class ChainTransientError(ChainError):
    """The endpoint could not answer now (unreachable, timeout, 5xx, 429): retrying may succeed."""


class ChainMalformedAnswer(ChainError):
    """The endpoint answered something that is not what Sui's GraphQL returns for this query."""


class ChainQueryRejected(ChainError):
    """The endpoint rejected the query (a GraphQL error that retrying will not fix)."""
