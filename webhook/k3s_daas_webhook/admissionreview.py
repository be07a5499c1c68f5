"""AdmissionReview (admission.k8s.io/v1) request parsing and response building.

Pure: bytes in, a typed request out; a verdict in, bytes out. A body that is not an AdmissionReview
v1 with a request is a ``BadRequest`` (HTTP 400 with the message). Anything well-formed gets an
answer: values the rules do not know (an operation, a resource) are decided by their defaults
(admission.py), never by an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

API_VERSION: Final = "admission.k8s.io/v1"
KIND: Final = "AdmissionReview"
_MAX_UID: Final = 256  # the API server sends a UUID; anything longer is not a real review


class BadRequest(ValueError):
    """The request body is not an AdmissionReview this server can answer; the message says why."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    username: str
    groups: frozenset[str] = frozenset()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """What the rules look at, from ``request`` of the review."""

    uid: str
    operation: str
    """CREATE, UPDATE, DELETE or CONNECT (anything else is kept as sent)."""
    group: str
    resource: str
    subresource: str
    name: str
    namespace: str
    user: UserInfo
    options_kind: str = ""
    """Kind of ``request.options``: PatchOptions tells a patch from an update."""
    object: Mapping[str, Any] | None = None
    old_object: Mapping[str, Any] | None = None
    kind: str = ""
    """The object's kind (``request.kind.kind``), for messages."""


def _text(value: Any, where: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a string")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object or null")
    return value


def _user(value: Any) -> UserInfo:
    if not isinstance(value, dict):
        raise BadRequest("request.userInfo must be an object")
    username = _text(value.get("username"), "request.userInfo.username")
    groups = value.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        raise BadRequest("request.userInfo.groups must be a list of strings")
    extra_in = value.get("extra") or {}
    if not isinstance(extra_in, dict):
        raise BadRequest("request.userInfo.extra must be an object of string lists")
    extra: dict[str, tuple[str, ...]] = {}
    for key, values in extra_in.items():
        if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
            raise BadRequest("request.userInfo.extra must be an object of string lists")
        extra[key] = tuple(values)
    return UserInfo(username, frozenset(groups), extra)


def parse_review(body: bytes) -> AdmissionRequest:
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON; expected an AdmissionReview") from None
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object (an AdmissionReview)")
    if document.get("apiVersion") != API_VERSION:
        raise BadRequest(f"apiVersion must be {API_VERSION!r}, got {str(document.get('apiVersion'))[:64]!r}")
    if document.get("kind") != KIND:
        raise BadRequest(f"kind must be {KIND!r}, got {str(document.get('kind'))[:64]!r}")
    request = document.get("request")
    if not isinstance(request, dict):
        raise BadRequest("request must be an object (the AdmissionRequest)")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid or len(uid) > _MAX_UID:
        raise BadRequest("request.uid must be a non-empty string")
    resource = request.get("resource")
    if not isinstance(resource, dict):
        raise BadRequest("request.resource must be an object (group, version, resource)")
    kind = request.get("kind")
    if kind is not None and not isinstance(kind, dict):
        raise BadRequest("request.kind must be an object (group, version, kind)")
    options = _object(request.get("options"), "request.options")
    return AdmissionRequest(
        uid=uid,
        operation=_text(request.get("operation"), "request.operation", required=True),
        group=_text(resource.get("group"), "request.resource.group"),
        resource=_text(resource.get("resource"), "request.resource.resource", required=True),
        subresource=_text(request.get("subResource"), "request.subResource"),
        name=_text(request.get("name"), "request.name"),
        namespace=_text(request.get("namespace"), "request.namespace"),
        user=_user(request.get("userInfo")),
        options_kind=str(options.get("kind") or "") if options is not None else "",
        object=_object(request.get("object"), "request.object"),
        old_object=_object(request.get("oldObject"), "request.oldObject"),
        kind=_text((kind or {}).get("kind"), "request.kind.kind"),
    )


def answer(uid: str, allowed: bool, message: str, rule: str) -> bytes:
    """The AdmissionReview response. A denial carries a 403 status whose message the API server
    shows the client verbatim (``admission webhook "..." denied the request: <message>``); the rule
    goes into the audit log as an annotation."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed, "auditAnnotations": {"rule": rule}}
    if not allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    return json.dumps({"apiVersion": API_VERSION, "kind": KIND, "response": response}, separators=(",", ":")).encode()
