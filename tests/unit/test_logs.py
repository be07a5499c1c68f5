"""k3s_daas.logs: JSON lines with time, level, logger, message and the request id; text for people;
`auto` picks by whether stderr is a terminal; kopf's records come out in the same format."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys

import pytest

from k3s_daas import logs


def _record(message: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("k3s_daas.test", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_line_fields() -> None:
    line = json.loads(logs.JsonFormatter().format(_record()))
    assert set(line) == {"time", "level", "logger", "message"}
    assert line["level"] == "WARNING" and line["logger"] == "k3s_daas.test" and line["message"] == "hello world"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


def test_the_request_id_of_the_current_context_is_on_every_line() -> None:
    token = logs.set_request_id("req-42")
    try:
        assert json.loads(logs.JsonFormatter().format(_record()))["request_id"] == "req-42"
        assert logs.TextFormatter().format(_record()).endswith("hello world [request_id=req-42]")
    finally:
        logs.reset_request_id(token)
    assert "request_id" not in json.loads(logs.JsonFormatter().format(_record()))
    assert logs.current_request_id() is None


def test_kopf_object_references_and_exceptions() -> None:
    ref = {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "SealToken", "name": "alice", "uid": "u", "namespace": None}
    line = json.loads(logs.JsonFormatter().format(_record(k8s_ref=ref)))
    assert line["object"] == {"kind": "SealToken", "name": "alice"}
    assert logs.TextFormatter().format(_record(k8s_ref=ref)).endswith("hello world [SealToken alice]")
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record(exc_info=sys.exc_info())
    assert "ValueError: boom" in json.loads(logs.JsonFormatter().format(record))["exception"]


def test_only_the_message_is_written_never_extra_attributes() -> None:
    # A module that passes a credential as an extra attribute (not in its message) does not leak it.
    line = logs.JsonFormatter().format(_record(token="k3s-daas-v1.secret-token", settings=object()))
    assert "secret-token" not in line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("configured", "stream", "chosen"),
    [
        ("auto", _Terminal(), "text"),
        ("auto", io.StringIO(), "json"),
        ("json", _Terminal(), "json"),
        ("text", io.StringIO(), "text"),
    ],
)
def test_auto_is_text_for_a_terminal_and_json_otherwise(configured: str, stream: io.StringIO, chosen: str) -> None:
    assert logs.resolve_format(configured, stream) == chosen


_PROBE = """
import logging, sys
from k3s_daas import logs
from k3s_daas.settings import LogSettings
print(logs.configure(LogSettings(format=sys.argv[1], level=sys.argv[2])), file=sys.stderr)
logging.getLogger("k3s_daas_webhook.server").info("webhook listening")
logging.getLogger("kopf.objects").warning("handler failed", extra={"k8s_ref": {"kind": "StakedNode", "name": "n1"}})
logging.getLogger("kopf.objects").info("per-object chatter, not shown below DEBUG")
logging.getLogger("httpx").info("HTTP Request: POST ... not shown below DEBUG")
logging.getLogger("kopf._core.reactor").debug("debug only")
"""


def _run_probe(log_format: str, level: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, log_format, level], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stderr.splitlines()


def test_every_library_logs_in_the_same_json_format() -> None:
    first, *lines = _run_probe("auto", "INFO")  # stderr is a pipe here: auto means JSON
    assert first == "json"
    records = [json.loads(line) for line in lines]
    assert [(r["logger"], r["message"]) for r in records] == [
        ("k3s_daas_webhook.server", "webhook listening"),
        ("kopf.objects", "handler failed"),
    ]
    assert records[1]["object"] == {"kind": "StakedNode", "name": "n1"}


def test_debug_shows_the_chatty_libraries_and_text_is_for_people() -> None:
    first, *lines = _run_probe("text", "DEBUG")
    assert first == "text"
    assert len(lines) == 5
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO k3s_daas_webhook.server: webhook listening$", lines[0])
    assert lines[1].endswith("WARNING kopf.objects: handler failed [StakedNode n1]")
