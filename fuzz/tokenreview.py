"""Fuzz POST /authenticate through the real aiohttp application (k3s_daas_webhook.app): every body
gets 200 (a TokenReview answer in the request's version) or 400 (JSON error), never a 5xx.

Each input is sent twice: as the raw body, and as the token of a well-formed TokenReview.

    python fuzz/tokenreview.py -runs=3000 fuzz/corpus/tokenreview
"""

from __future__ import annotations

import json

import _harness

_harness.instrumented("k3s_daas.sealtoken", "k3s_daas_webhook", load=("k3s_daas_webhook.app",))

from k3s_daas_webhook.app import create_app  # noqa: E402
from k3s_daas_webhook.tokenreview import SUPPORTED_VERSIONS  # noqa: E402

DRIVER = _harness.AppDriver(lambda: create_app(_harness.webhook_state()))


def check(answer: _harness.Answer, sent_version: object) -> None:
    document = _harness.check_webhook_answer(answer, {200, 400})
    if answer.status == 400:
        _harness.json_error_body(answer)
        return
    _harness.expect(document.get("kind") == "TokenReview", f"kind: {document!r:.200}")
    _harness.expect(document.get("apiVersion") in SUPPORTED_VERSIONS, "apiVersion not a TokenReview version")
    if sent_version is not None:
        _harness.expect(document["apiVersion"] == sent_version, "apiVersion not echoed")
    status = document.get("status")
    _harness.expect(isinstance(status, dict) and isinstance(status.get("authenticated"), bool), "no status")
    if status["authenticated"]:
        user = status.get("user") or {}
        _harness.expect(str(user.get("username", "")).startswith("sui:0x"), f"username {user!r:.200}")
        _harness.expect(not any(str(g).startswith("system:") for g in user.get("groups", [])), "system: group")
    else:
        _harness.expect(str(status.get("error", "")).startswith("k3s-daas: "), "denial without a reason")


def test_one_input(data: bytes) -> None:
    try:
        sent = json.loads(data)
        version = sent.get("apiVersion") if isinstance(sent, dict) else None
    except (ValueError, RecursionError):
        version = None
    check(DRIVER.request("POST", "/authenticate", data, {"Content-Type": "application/json"}), version)
    token = data.decode("utf-8", "surrogatepass") if _is_utf8(data) else data.decode("latin-1")
    review = {"apiVersion": SUPPORTED_VERSIONS[len(data) % 2], "kind": "TokenReview", "spec": {"token": token}}
    body = json.dumps(review).encode()
    check(DRIVER.request("POST", "/authenticate", body, {"Content-Type": "application/json"}), review["apiVersion"])


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


if __name__ == "__main__":
    _harness.fuzz(test_one_input)
