"""Fuzz localnet's HTTP input (k3s_daas.localnet.server): GraphQL by POST and GET, and signed calls
to /localnet/v1/execute, through the real aiohttp application on a real SQLite store. Never a 5xx,
never a resolver crash (``INTERNAL_SERVER_ERROR``), always JSON.

The first byte picks the route: 0 POST /graphql (body), 1 GET /graphql?query= (text), 2 POST
/localnet/v1/execute (body), 3 a call document (JSON) that the harness signs with a funded key and
executes, so the Move semantics see arbitrary arguments; anything else: as 0.

    python fuzz/localnet.py -runs=3000 fuzz/corpus/localnet
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import _harness

_harness.instrumented("k3s_daas.localnet", load=("k3s_daas.localnet.server",))

from k3s_daas.localnet.protocol import VERSION  # noqa: E402
from k3s_daas.localnet.server import LocalnetApp  # noqa: E402
from k3s_daas.localnet.store import Store  # noqa: E402

NOW_MS = _harness.NOW * 1000
KEY = _harness.seed_keys()["Ed25519"]
_DIRECTORY = tempfile.TemporaryDirectory(prefix="k3s-daas-fuzz-localnet-")
STORE = Store(Path(_DIRECTORY.name) / "chain.sqlite3")
CHAIN = STORE.initialise(KEY.address, NOW_MS).chain_identifier
DRIVER = _harness.AppDriver(lambda: LocalnetApp(STORE, clock=lambda: NOW_MS, wall_clock=lambda: NOW_MS).build())
EXECUTE_STATUSES = {200, 400, 401, 409, 422}
_nonce = 0


def check_graphql(answer: _harness.Answer) -> None:
    _harness.expect(answer.status in (200, 400), f"GraphQL status {answer.status}: {answer.body[:300]!r}")
    document = answer.json()
    _harness.expect(isinstance(document, dict) and ("data" in document or "errors" in document), "no data/errors")
    for error in document.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        _harness.expect(code != "INTERNAL_SERVER_ERROR", f"a resolver crashed: {error!r:.300}")


def check_execute(answer: _harness.Answer) -> None:
    _harness.expect(answer.status in EXECUTE_STATUSES, f"execute status {answer.status}: {answer.body[:300]!r}")
    document = answer.json()
    _harness.expect(isinstance(document, dict), "execute answer is not an object")
    if answer.status != 200:
        error = document.get("error") or {}
        _harness.expect(isinstance(error.get("message"), str) and isinstance(error.get("kind"), str), "bad error")


def signed_call(call: Any) -> bytes:
    """``call`` signed by the funded key for this chain, now, with a fresh nonce."""
    global _nonce  # one harness process, one counter: every message is new, so never "replayed"
    _nonce += 1
    document = {"v": VERSION, "chain": CHAIN, "sender": KEY.address, "timestampMs": NOW_MS,
                "nonce": f"{_nonce:032x}", "call": call}  # fmt: skip
    message = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return json.dumps(
        {"message": base64.b64encode(message).decode(), "signature": KEY.sign_personal_message(message)}
    ).encode()


def test_one_input(data: bytes) -> None:
    route, rest = (data[0], data[1:]) if data else (0, b"")
    if route == 1:
        check_graphql(DRIVER.request("GET", "/graphql?query=" + quote(rest.decode("latin-1")[:2000])))
    elif route == 2:
        check_execute(DRIVER.request("POST", "/localnet/v1/execute", rest))
    elif route == 3:
        try:
            call = json.loads(rest)
        except (ValueError, RecursionError):
            return
        check_execute(DRIVER.request("POST", "/localnet/v1/execute", signed_call(call)))
    else:
        check_graphql(DRIVER.request("POST", "/graphql", rest, {"Content-Type": "application/json"}))


if __name__ == "__main__":
    _harness.fuzz(test_one_input)
