"""Seal tokens: the bearer credential a Sui key signs (docs/seal-token.md).

One module for every user: the exec plugin and ``join`` mint tokens, ``token inspect`` and the
webhook verify them. Verification is local (``cryptography`` + ``hashlib``), never a network call.
"""

from k3s_daas.sealtoken.claims import (
    API_TOKEN,
    JOIN_REQUEST,
    ClaimProfile,
    SealClaims,
    is_cluster_id,
    is_node_name,
    join_audience,
)
from k3s_daas.sealtoken.mint import api_claims, assemble, join_claims, sign, signing_message
from k3s_daas.sealtoken.rejection import Rejection, TokenRejected
from k3s_daas.sealtoken.verify import (
    DEFAULT_LEEWAY_S,
    DEFAULT_MAX_LIFETIME_S,
    VerifiedToken,
    still_valid,
    verify_token,
)
from k3s_daas.sealtoken.wire import ALGORITHM, MAX_TOKEN_BYTES, PREFIX

__all__ = [
    "ALGORITHM",
    "API_TOKEN",
    "DEFAULT_LEEWAY_S",
    "DEFAULT_MAX_LIFETIME_S",
    "JOIN_REQUEST",
    "MAX_TOKEN_BYTES",
    "PREFIX",
    "ClaimProfile",
    "Rejection",
    "SealClaims",
    "TokenRejected",
    "VerifiedToken",
    "api_claims",
    "assemble",
    "is_cluster_id",
    "is_node_name",
    "join_audience",
    "join_claims",
    "sign",
    "signing_message",
    "still_valid",
    "verify_token",
]
