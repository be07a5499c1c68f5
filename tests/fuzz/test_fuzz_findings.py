"""Regressions for what fuzzing found (docs/security-testing.md, "Findings"), over real HTTP.

localnet answered 500 to JSON nested deeper than Python's recursion limit (RecursionError escaped
json.loads) in a POST body (/graphql, /localnet/v1/execute), in GET /graphql?variables=, and inside
a signed call's message; each is now the same 400 as any other JSON that cannot be read.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from k3s_daas.localnet.server import BackgroundServer, LocalnetApp
from k3s_daas.localnet.store import Store
from k3s_daas.sui.crypto import Keypair, SignatureScheme

DEEP = b"[" * 100_000


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    store = Store(Path(tmp_path_factory.mktemp("localnet")) / "chain.sqlite3")
    store.initialise(Keypair.generate(SignatureScheme.ED25519).address, 1_800_000_000_000)
    with BackgroundServer(LocalnetApp(store, allow_clock_control=True)).running() as server:
        yield server


def fetch(url: str, body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("path", ["/graphql", "/localnet/v1/execute", "/localnet/v1/clock"])
def test_deeply_nested_json_body_is_a_400(localnet: BackgroundServer, path: str) -> None:
    status, answer = fetch(localnet.url + path, DEEP)
    assert status == 400, answer
    assert "not JSON" in json.dumps(answer)
    assert fetch(localnet.url + "/graphql", b'{"query": "{ chainIdentifier }"}')[0] == 200


def test_deeply_nested_graphql_variables_in_a_get_are_a_400(localnet: BackgroundServer) -> None:
    status, answer = fetch(localnet.url + "/graphql?query=%7BchainIdentifier%7D&variables=" + "[" * 2500)
    assert status == 400
    assert answer["errors"][0]["message"] == "variables is not JSON"


def test_deeply_nested_signed_call_message_is_a_400(localnet: BackgroundServer) -> None:
    body = json.dumps({"message": base64.b64encode(b"[" * 60_000).decode(), "signature": "AA=="}).encode()
    status, answer = fetch(localnet.url + "/localnet/v1/execute", body)
    assert status == 400
    assert answer["error"]["message"] == "signed call is not UTF-8 JSON"


def test_stakes_whose_sum_overflows_u64_are_refused_not_a_crash(tmp_path: Path) -> None:
    from k3s_daas.errors import UserError
    from k3s_daas.localnet.state import Call

    store = Store(tmp_path / "chain.sqlite3")
    store.initialise(Keypair.generate(SignatureScheme.ED25519).address, 1_800_000_000_000)
    staker = Keypair.generate(SignatureScheme.ED25519).address
    stake = Call("staking", "stake", {"amount": str(10**19), "role": 0, "node_name": ""})
    store.execute(stake, staker, 1_800_000_000_000)
    with pytest.raises(UserError, match="exceed the u64 maximum"):  # was struct.error, a 500
        store.execute(stake, staker, 1_800_000_000_001)
