"""Kubernetes ``Status`` bodies for the answers the executor gives itself (refusals, failures).

They have the shape the API server uses for its own errors, so a client prints them the same way
(``Error from server (<reason>): <message>``).
"""

from __future__ import annotations

import json
from typing import Final

REASONS: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    413: "RequestEntityTooLarge",
    502: "InternalError",
    504: "Timeout",
}


def status_body(code: int, message: str) -> bytes:
    """A ``metav1.Status`` failure, serialized compactly as the API server does."""
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "InternalError"),
        "code": code,
    }
    return json.dumps(status, separators=(",", ":")).encode()
