"""TokenReview (authentication.k8s.io v1 and v1beta1) request parsing and response building.

Pure: bytes in, dicts out. A body that is not a TokenReview is a ``BadRequest`` (HTTP 400 with the
message); a well-formed review with a bad token is a definitive ``authenticated: false``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Final

from k3s_daas_webhook.decision import Identity

API_GROUP: Final = "authentication.k8s.io"
SUPPORTED_VERSIONS: Final = (f"{API_GROUP}/v1", f"{API_GROUP}/v1beta1")
KIND: Final = "TokenReview"


class BadRequest(ValueError):
    """The request body is not a TokenReview this server can answer; the message says why."""


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    api_version: str
    token: str


def parse_review(body: bytes) -> ReviewRequest:
    """The review's version and token. ``spec.audiences`` is deliberately ignored and no
    ``status.audiences`` is returned: a Seal token's audience is the cluster id, checked in the token
    itself, and the API server then treats the answer as valid for its own audiences only."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON; expected a TokenReview") from None
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object (a TokenReview)")
    api_version = document.get("apiVersion")
    if api_version not in SUPPORTED_VERSIONS:
        raise BadRequest(f"apiVersion must be one of {', '.join(SUPPORTED_VERSIONS)}, got {str(api_version)[:64]!r}")
    if document.get("kind") != KIND:
        raise BadRequest(f"kind must be {KIND!r}, got {str(document.get('kind'))[:64]!r}")
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise BadRequest("spec must be an object holding the token")
    token = spec.get("token")
    if not isinstance(token, str):
        raise BadRequest("spec.token must be a string")
    return ReviewRequest(api_version, token)


@functools.lru_cache(maxsize=16384)
def authenticated_for(api_version: str, identity: Identity) -> bytes:
    """The answer for ``identity``, encoded once: identities change only when their SealToken does."""
    return authenticated(api_version, identity.to_user_info())


def authenticated(api_version: str, user: dict[str, object]) -> bytes:
    return json.dumps(
        {"apiVersion": api_version, "kind": KIND, "status": {"authenticated": True, "user": user}},
        separators=(",", ":"),
    ).encode()


def denied(api_version: str, error: str) -> bytes:
    """``authenticated: false``; ``error`` shows in the API server's log, so it never holds the token."""
    return json.dumps(
        {"apiVersion": api_version, "kind": KIND, "status": {"authenticated": False, "error": error}},
        separators=(",", ":"),
    ).encode()
