"""What a ``K8sAPIRequest`` event asks for, and whether it can be executed (pure).

The chain checks only that the method is one of five and the path starts with ``/``; everything
else is checked here, and a request that fails a check is answered with a recorded 400 Status,
never executed and never a crash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from k3s_daas_operator.onchain_requests.status import status_body

MAX_PAYLOAD_BYTES: Final = 16 * 1024
"""Sui's largest pure argument (``max_pure_argument_size``): a larger payload cannot be submitted on
Sui, so one that reached a more permissive chain (localnet takes up to 64 KiB) is refused the same (413)."""
METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_ADDRESS: Final = re.compile(r"0x[0-9a-f]{64}")
# Path characters of Kubernetes resource paths; no spaces, no controls, and no percent-escapes: the
# checks below read the path as written, and an escape would be decoded after them (``%2e%2e`` is
# ``..`` to the URL library, ``%2F`` hides a subresource inside a segment). The query may hold escapes.
_PATH: Final = re.compile(r"/[A-Za-z0-9._~:@!$&'()*+,;=/-]*")
# Subresources that stream or upgrade the connection: a recorded request/response cannot carry them.
_STREAMING: Final = frozenset({"exec", "attach", "portforward", "proxy"})
_STREAMING_PARAMS: Final = frozenset({"watch", "follow"})


class MalformedEvent(ValueError):
    """The event's fields are not those of ``K8sAPIRequest`` (a foreign or corrupted event)."""


@dataclass(frozen=True, slots=True)
class ChainRequest:
    """One ``k8s_gateway::K8sAPIRequest`` event."""

    request_id: int
    sender: str
    method: str
    path: str
    payload: str
    submitted_at_ms: int | None = None
    """The event's chain timestamp (None where the chain gives none): for the response-time metric."""

    @classmethod
    def from_event(cls, fields: Mapping[str, object], timestamp_ms: int | None = None) -> ChainRequest:
        request_id, sender = fields.get("request_id"), fields.get("sender")
        method, path, payload = fields.get("method"), fields.get("path"), fields.get("payload")
        if not isinstance(request_id, str | int) or isinstance(request_id, bool) or not str(request_id).isdigit():
            raise MalformedEvent(f"request_id {request_id!r}")
        if not isinstance(sender, str) or _ADDRESS.fullmatch(sender) is None:
            raise MalformedEvent(f"sender {sender!r}")
        if not isinstance(method, str) or not isinstance(path, str) or not isinstance(payload, str):
            raise MalformedEvent("method, path and payload must be strings")
        return cls(int(request_id), sender, method, path, payload, timestamp_ms)

    @property
    def safe(self) -> bool:
        """Executing it twice has the effect of executing it once (it reads)."""
        return self.method == "GET"


@dataclass(frozen=True, slots=True)
class Call:
    """A request that passed every check: what to send to the API server."""

    method: str
    path: str
    body: bytes | None
    content_type: str | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request answered without being executed."""

    status_code: int
    body: bytes


def plan(request: ChainRequest) -> Call | Refusal:
    """The call to make for ``request``, or the recorded refusal that answers it."""
    if request.method not in METHODS:
        return _bad(f"method {request.method!r} is not one of {', '.join(sorted(METHODS))}")
    payload = request.payload.encode("utf-8")
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Refusal(
            413,
            status_body(
                413, f"the payload is {len(payload)} bytes; on-chain requests carry at most {MAX_PAYLOAD_BYTES}"
            ),
        )
    problem = _path_problem(request.path)
    if problem:
        return _bad(problem)
    if request.method == "GET":
        if payload:
            return _bad("a GET carries no payload")
        return Call("GET", request.path, None, None)
    if request.method == "DELETE" and not payload:
        return Call("DELETE", request.path, None, None)
    try:
        document = json.loads(payload)
    except ValueError as error:
        return _bad(f"the payload is not JSON: {error}")
    if request.method == "PATCH":
        if isinstance(document, dict):
            return Call("PATCH", request.path, payload, "application/merge-patch+json")
        if isinstance(document, list):
            return Call("PATCH", request.path, payload, "application/json-patch+json")
        return _bad("a PATCH payload is a JSON merge patch (an object) or a JSON patch (a list)")
    if not isinstance(document, dict):
        return _bad(f"a {request.method} payload is a JSON object")
    return Call(request.method, request.path, payload, "application/json")


def _path_problem(path: str) -> str:
    if _PATH.fullmatch(path.split("?", 1)[0]) is None or "#" in path or any(c.isspace() for c in path):
        return f"path {path!r} is not a Kubernetes API path (no percent-escapes in the path)"
    if path.startswith("//"):
        return f"path {path!r} starts with '//' (a host, to a URL parser)"
    parts = urlsplit(path)
    segments = parts.path.split("/")[1:]
    if not segments or segments[0] not in ("api", "apis"):
        return f"path {parts.path!r}: on-chain requests reach /api and /apis only"
    if any(segment in (".", "..") for segment in segments) or "" in segments[:-1]:
        return f"path {parts.path!r} has empty, '.' or '..' segments"
    version_end = 2 if segments[0] == "api" else 3
    if len(segments) > version_end and segments[version_end] == "watch":
        return f"path {parts.path!r} watches (streams): not possible on chain (use kubectl)"
    if _subresource(segments) in _STREAMING:
        return f"path {parts.path!r} streams or upgrades the connection: not possible on chain (use kubectl)"
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        return f"query {parts.query!r} is malformed"
    streaming = {name for name, value in query if name in _STREAMING_PARAMS and value not in ("", "0", "false")}
    if streaming:
        return f"{', '.join(sorted(streaming))} streams: not possible on chain (use kubectl)"
    return ""


def _subresource(segments: list[str]) -> str:
    """The subresource a path names: /api/v1[/namespaces/NS]/RES/NAME/SUB, /apis/G/V[/namespaces/NS]/RES/NAME/SUB."""
    rest = segments[2:] if segments[0] == "api" else segments[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    return rest[2] if len(rest) >= 3 else ""


def _bad(message: str) -> Refusal:
    return Refusal(400, status_body(400, f"k3s-daas on-chain request: {message}"))
