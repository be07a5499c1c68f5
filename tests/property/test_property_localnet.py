"""Properties of localnet's input handling: any GraphQL query text and variables get a GraphQL
answer (data and/or errors, never a resolver crash); any signed-call message is a call or BadRequest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k3s_daas.localnet.protocol import BadRequest, SignedCall, verify_call
from k3s_daas.localnet.server import LocalnetApp
from k3s_daas.localnet.store import Store
from k3s_daas.sui.crypto import Keypair, SignatureScheme

FAST = settings(max_examples=150, deadline=None, database=None)
NOW_MS = 1_800_000_000_000
ADMIN = Keypair.from_secret(SignatureScheme.ED25519, b"\x61" * 32)
FIELDS = [
    "chainIdentifier",
    "checkpoint { sequenceNumber }",
    'object(address: "0x2") { address version }',
    "serviceConfig { maxQueryDepth }",
    "events(first: 2) { nodes { sequenceNumber } }",
    "x",
    "__typename",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> LocalnetApp:
    store = Store(Path(tmp_path_factory.mktemp("localnet")) / "chain.sqlite3")
    store.initialise(ADMIN.address, NOW_MS)
    return LocalnetApp(store, clock=lambda: NOW_MS, wall_clock=lambda: NOW_MS)


def assert_graphql_answer(answer: dict) -> None:
    assert "data" in answer or "errors" in answer
    for error in answer.get("errors") or []:
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error


@FAST
@given(query=st.text(max_size=200), variables=st.none() | st.dictionaries(st.text(max_size=6), json_values, max_size=3))
def test_any_query_text_gets_a_graphql_answer(localnet: LocalnetApp, query: str, variables: dict | None) -> None:
    assert_graphql_answer(localnet.run_graphql(query, variables))


@FAST
@given(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=6), st.integers(0, 12))
def test_composed_queries_and_nesting_get_a_graphql_answer(
    localnet: LocalnetApp, fields: list[str], depth: int
) -> None:
    query = "{ " + " ".join(f"f{i}: {field}" for i, field in enumerate(fields)) + " }"
    nested = "{ checkpoint " + "{ sequenceNumber " * depth + "}" * depth + "}"
    assert_graphql_answer(localnet.run_graphql(query))
    assert_graphql_answer(localnet.run_graphql(nested))


@FAST
@given(
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(lambda n: b"[" * n, st.integers(900, 5000)),
    st.text(max_size=140),
)
def test_any_signed_call_message_is_a_call_or_a_bad_request(message: bytes, signature: str) -> None:
    try:
        verify_call(SignedCall(message, signature), "chain", NOW_MS)
    except BadRequest as error:
        assert str(error)
