"""Logging for every component: JSON lines for machines or text for people, and a request id.

``configure`` installs one handler on the root logger, so records of our modules, aiohttp, kopf and
the Kubernetes client all come out in the same format. A JSON line holds ``time`` (UTC, RFC 3339 with
milliseconds), ``level``, ``logger``, ``message``, and when present ``request_id`` (the webhook
request being handled), ``object`` (kopf's reference to the Kubernetes object being handled) and
``exception``. The format ``auto`` is text when stderr is a terminal and JSON otherwise: a person at
a terminal reads text, a container runtime, systemd or a log file gets lines a collector can parse.

Only the message is written, never a record's arguments or extra attributes on their own: what a
module does not put into its message (a token, a key) cannot leak through the formatter.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Final, TextIO

from k3s_daas.settings import LogSettings

# A contextvar, not module state: each asyncio task (each webhook request) sees its own value.
_REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("k3s_daas_request_id", default=None)

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries that log every HTTP request they make at INFO: pysui's httpx polls the chain several
# times a second, kopf logs each object it hands to a handler (our engine logs transitions instead).
_CHATTY: Final = {"httpx": logging.WARNING, "kopf.objects": logging.WARNING}


def current_request_id() -> str | None:
    return _REQUEST_ID.get()


def set_request_id(request_id: str | None) -> Token[str | None]:
    """Make ``request_id`` the id of what this task is handling; give the token to :func:`reset_request_id`."""
    return _REQUEST_ID.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _REQUEST_ID.reset(token)


def _object_ref(record: logging.LogRecord) -> dict[str, str] | None:
    """kopf's per-object loggers attach the object's reference as ``k8s_ref``."""
    ref = getattr(record, "k8s_ref", None)
    if not isinstance(ref, dict):
        return None
    return {key: str(ref[key]) for key in ("kind", "namespace", "name") if ref.get(key)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        ref = _object_ref(record)
        if ref:
            entry["object"] = ref
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ref = _object_ref(record)
        if ref:
            where = "/".join(ref[key] for key in ("namespace", "name") if key in ref)
            line = f"{line} [{ref.get('kind', 'object')} {where}]"
        request_id = _REQUEST_ID.get()
        return line if request_id is None else f"{line} [request_id={request_id}]"


def resolve_format(log_format: str, stream: TextIO) -> str:
    """``json`` or ``text``; ``auto`` picks text for a terminal, JSON for anything else."""
    if log_format != "auto":
        return log_format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(settings: LogSettings, stream: TextIO | None = None) -> str:
    """Route every logger to ``stream`` (stderr) in the configured format; returns the format used."""
    target = sys.stderr if stream is None else stream
    chosen = resolve_format(settings.format, target)
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    logging.basicConfig(level=settings.level, handlers=[handler], force=True)
    if settings.level != "DEBUG":
        for name, level in _CHATTY.items():
            logging.getLogger(name).setLevel(level)
    return chosen


__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "configure",
    "current_request_id",
    "reset_request_id",
    "resolve_format",
    "set_request_id",
]
