"""The claims of a Seal token: which are allowed, their types, and the typed result.

Two kinds of token share the format and differ in their claims (a :class:`ClaimProfile`):

* an API token (``kubectl`` bearer credential): audience = the cluster id;
* a join request (``k3s-daas join``): audience = ``<cluster id>:join``, names a node, carries a
  ``jti`` that is accepted once.

Unknown claims are refused (an allowlist, as aws-iam-authenticator does): a new claim means a new
prefix version, never a claim some verifiers silently ignore.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from k3s_daas.sealtoken.rejection import Rejection, TokenRejected

JOIN_AUDIENCE_SUFFIX: Final = ":join"

_ADDRESS: Final = re.compile(r"0x[0-9a-f]{64}")
_JTI: Final = re.compile(r"[A-Za-z0-9_-]{8,128}")
_NODE_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Cluster ids end up in an audience and in file names: DNS-like, so no ':' or '/' can blur
# "<id>:join" with another cluster's id.
CLUSTER_ID: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class ClaimProfile:
    name: str
    required: frozenset[str]
    optional: frozenset[str]

    @property
    def allowed(self) -> frozenset[str]:
        return self.required | self.optional


API_TOKEN: Final = ClaimProfile(
    "API token",
    required=frozenset({"sub", "aud", "iat", "exp"}),
    optional=frozenset({"nbf", "jti", "seal_token"}),
)
JOIN_REQUEST: Final = ClaimProfile(
    "join request",
    required=frozenset({"sub", "aud", "iat", "exp", "jti", "node"}),
    optional=frozenset({"nbf"}),
)


def join_audience(cluster_id: str) -> str:
    return cluster_id + JOIN_AUDIENCE_SUFFIX


def is_cluster_id(text: str) -> bool:
    return CLUSTER_ID.fullmatch(text) is not None


def is_node_name(text: str) -> bool:
    return _NODE_NAME.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class SealClaims:
    """The claims of a token whose signature verified (times are Unix seconds)."""

    subject: str
    """The signer's Sui address: 0x + 64 lowercase hex digits."""
    audience: str
    issued_at: int
    expires_at: int
    not_before: int | None = None
    token_id: str | None = None
    """``jti``: random, required (and accepted once) for join requests."""
    seal_token: str | None = None
    """The on-chain SealToken object id the holder means to use, when they hold several."""
    node: str | None = None
    """Join requests only: the node whose bootstrap token is asked for."""

    def to_json(self) -> dict[str, Any]:
        """The claims as they appear in the payload (absent optional claims left out)."""
        out: dict[str, Any] = {"sub": self.subject, "aud": self.audience, "iat": self.issued_at}
        if self.not_before is not None:
            out["nbf"] = self.not_before
        out["exp"] = self.expires_at
        if self.token_id is not None:
            out["jti"] = self.token_id
        if self.seal_token is not None:
            out["seal_token"] = self.seal_token
        if self.node is not None:
            out["node"] = self.node
        return out


def _fail(message: str) -> TokenRejected:
    return TokenRejected(Rejection.INVALID_CLAIMS, message)


def _int_claim(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    # bool is an int in Python; a NumericDate is a JSON integer here (no fractions, no strings).
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"claim {name!r} must be an integer number of seconds since the Unix epoch")
    if not 0 < value < 2**53:
        raise _fail(f"claim {name!r} is out of range")
    return value


def _string_claim(payload: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise _fail(f"claim {name!r} must be {what}")
    return value


def parse_claims(payload: Mapping[str, Any], profile: ClaimProfile) -> SealClaims:
    """Typed claims from a decoded payload, or ``TokenRejected(INVALID_CLAIMS)``."""
    unknown = sorted(set(payload) - profile.allowed)
    if unknown:
        raise _fail(f"unexpected claim(s) {', '.join(map(repr, unknown))} in a {profile.name}")
    missing = sorted(name for name in profile.required if payload.get(name) is None)
    if missing:
        raise _fail(f"missing claim(s) {', '.join(map(repr, missing))} in a {profile.name}")
    subject = _string_claim(payload, "sub", _ADDRESS, "a Sui address: 0x and 64 lowercase hex digits")
    audience = payload["aud"]
    if not isinstance(audience, str):
        raise _fail("claim 'aud' must be one string (the cluster id)")
    issued_at = _int_claim(payload, "iat")
    expires_at = _int_claim(payload, "exp")
    assert subject is not None and issued_at is not None and expires_at is not None  # required above
    if expires_at <= issued_at:
        raise _fail("claim 'exp' must be later than 'iat'")
    return SealClaims(
        subject=subject,
        audience=audience,
        issued_at=issued_at,
        expires_at=expires_at,
        not_before=_int_claim(payload, "nbf"),
        token_id=_string_claim(payload, "jti", _JTI, "8 to 128 characters of [A-Za-z0-9_-]"),
        seal_token=_string_claim(payload, "seal_token", _ADDRESS, "an object id: 0x and 64 lowercase hex digits"),
        node=_string_claim(payload, "node", _NODE_NAME, "a Kubernetes node name (DNS-1123 label)"),
    )
