"""Printing a response as kubectl prints what it got (pure)."""

from __future__ import annotations

import json
from typing import Any

import yaml


def render(body: bytes, output: str) -> str:
    """``-o json`` (kubectl's 4-space indentation) or ``-o yaml``; a body that is not JSON as it is."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
    if output == "yaml":
        return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return json.dumps(document, indent=4, ensure_ascii=False) + "\n"


def error_line(status_code: int, body: bytes) -> str:
    """``Error from server (<reason>): <message>``, as kubectl reports a failed request."""
    try:
        status: Any = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        reason = status.get("reason") or "Unknown"
        return f"Error from server ({reason}): {status.get('message') or 'no message'}"
    text = body.decode("utf-8", "replace").strip()[:500]
    return f"Error from server (status {status_code}): {text or 'no body'}"
