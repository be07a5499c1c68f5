"""Why a Seal token was refused: a closed set of reasons, each with a message for people.

The reason's value is what logs and the ``reason`` label of metrics show; the message may name the
offending claim or the expected value, but never contains the token itself.
"""

from __future__ import annotations

import enum

from k3s_daas.errors import UserError


class Rejection(enum.StrEnum):
    """Every way verification of a Seal token can fail, in the order the checks run."""

    OVERSIZED = "oversized"
    WRONG_PREFIX = "wrong_prefix"
    MALFORMED = "malformed"
    FORBIDDEN_ALGORITHM = "forbidden_algorithm"
    UNKNOWN_ALGORITHM = "unknown_algorithm"
    BAD_SIGNATURE = "bad_signature"
    WRONG_AUDIENCE = "wrong_audience"
    INVALID_CLAIMS = "invalid_claims"
    ADDRESS_MISMATCH = "address_mismatch"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    LIFETIME_TOO_LONG = "lifetime_too_long"


class TokenRejected(UserError):
    """A Seal token that does not verify; ``reason`` says which check failed."""

    def __init__(self, reason: Rejection, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.detail = message
