"""Every webhook request has an id: the caller's X-Request-Id, else the AdmissionReview's uid, else a
random one. It is echoed in the response's X-Request-Id and written on the log lines of that request."""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from test_validate import active_token, review, sources
from webhook_testing import client_context, token_review

from k3s_daas.logs import JsonFormatter

GENERATED = re.compile(r"[0-9a-f]{8}-[0-9a-f]+")


@pytest.fixture
def app_log() -> Iterator[io.StringIO]:
    """The handlers' log lines, formatted as in production (the formatter reads the request id)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("k3s_daas_webhook.app")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def _post(webhook, path: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, str]:
    connection = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=client_context(webhook.ca))
    try:
        connection.request(
            "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        response.read()
        return response.status, response.headers["X-Request-Id"]
    finally:
        connection.close()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_admission_review_is_known_by_its_uid(start_webhook, app_log) -> None:
    webhook = start_webhook(admission=sources(active_token()))
    body = review(resource="secrets")  # denied: the denial is logged
    status, request_id = _post(webhook, "/validate", body)
    assert status == 200 and request_id == body["request"]["uid"]
    (line,) = _lines(app_log)
    assert str(line["message"]).startswith("admission denied") and line["request_id"] == request_id


def test_the_callers_request_id_wins(start_webhook, app_log) -> None:
    webhook = start_webhook(admission=sources(active_token()))
    status, request_id = _post(webhook, "/validate", review(resource="secrets"), {"X-Request-Id": "trace-7:a.b"})
    assert status == 200 and request_id == "trace-7:a.b"
    assert _lines(app_log)[0]["request_id"] == "trace-7:a.b"


@pytest.mark.parametrize("given", ["two words", "x" * 129, "semi;colon", ""])
def test_an_unusable_request_id_is_replaced(start_webhook, given: str) -> None:
    webhook = start_webhook(admission=sources(active_token()))
    status, request_id = _post(webhook, "/authenticate", token_review("junk"), {"X-Request-Id": given})
    assert status == 200 and GENERATED.fullmatch(request_id)


def test_token_reviews_get_a_generated_id_and_their_token_is_never_logged(start_webhook, app_log) -> None:
    webhook = start_webhook(admission=sources(active_token()))
    token = "k3s-daas-v1.eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJub2JvZHkifQ.c2lnbmF0dXJl"
    first = _post(webhook, "/authenticate", token_review(token))
    second = _post(webhook, "/authenticate", token_review(token))
    assert first[0] == second[0] == 200
    assert GENERATED.fullmatch(first[1]) and GENERATED.fullmatch(second[1]) and first[1] != second[1]
    lines = _lines(app_log)
    assert [line["request_id"] for line in lines] == [first[1], second[1]]
    assert "c2lnbmF0dXJl" not in app_log.getvalue() and "eyJzdWIi" not in app_log.getvalue()


def test_errors_raised_before_any_handler_carry_the_id_too(start_webhook) -> None:
    webhook = start_webhook(admission=sources(active_token()))
    status, request_id = _post(webhook, "/no-such-route", {}, {"X-Request-Id": "lost-1"})
    assert status == 404
    assert request_id == "lost-1"
