"""Event paging: stable cursors, forwards and backwards, with no gap and no duplicate."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from localnet_testing import Localnet

from k3s_daas.chain import ChainClient, ChainMetrics
from k3s_daas.localnet.store import Store
from k3s_daas.sui.crypto import Keypair

QUERY = """
query($first: Int, $after: String, $last: Int, $before: String, $filter: EventFilter) {
  events(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { sequenceNumber transaction { digest } contents { json type { repr } } } }
  }
}"""


def events(net: Localnet, **variables: Any) -> dict[str, Any]:
    body = json.dumps({"query": QUERY, "variables": variables}).encode()
    request = urllib.request.Request(net.url + "/graphql", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer
    return dict(answer["data"]["events"])


def key(edge: dict[str, Any]) -> tuple[str, int]:
    return edge["node"]["transaction"]["digest"], edge["node"]["sequenceNumber"]


def fill(store: Store, count: int, sender: str) -> None:
    """``count`` transactions, written straight to the store (fast), each emitting one event."""
    from k3s_daas.localnet.state import Call

    for i in range(count):
        store.execute(Call("staking", "stake", {"amount": 600_000_000 + i, "role": 0, "node_name": ""}), sender, i)


def test_forward_and_backward_pages_cover_everything_once(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    fill(localnet.store, 47, keys["alice"].address)
    everything = events(localnet, first=50)["edges"]
    assert len(everything) == 47

    forward: list[dict[str, Any]] = []
    page = events(localnet, first=7)
    assert page["pageInfo"]["hasPreviousPage"] is False
    while True:
        forward.extend(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        page = events(localnet, first=7, after=page["pageInfo"]["endCursor"])
        assert page["pageInfo"]["hasPreviousPage"] is True
    assert [key(e) for e in forward] == [key(e) for e in everything]
    assert len({e["cursor"] for e in forward}) == 47

    backward: list[dict[str, Any]] = []
    page = events(localnet, last=10)
    while True:
        backward[:0] = page["edges"]
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        page = events(localnet, last=10, before=page["pageInfo"]["startCursor"])
    assert [key(e) for e in backward] == [key(e) for e in everything]

    # Cursors are positions, not page numbers: the same cursor always resumes at the same event.
    middle = everything[20]["cursor"]
    assert events(localnet, first=3, after=middle)["edges"] == everything[21:24]
    assert events(localnet, last=2, before=middle)["edges"] == everything[18:20]


def test_a_cursor_at_the_end_resumes_with_exactly_the_new_events(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    fill(localnet.store, 5, keys["alice"].address)
    end = events(localnet, first=50)["pageInfo"]["endCursor"]
    empty = events(localnet, first=50, after=end)
    assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is False
    fill(localnet.store, 3, keys["bob"].address)
    resumed = events(localnet, first=50, after=end)["edges"]
    assert [e["node"]["contents"]["json"]["owner"] for e in resumed] == [keys["bob"].address] * 3


def test_event_filters(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    fill(localnet.store, 2, keys["alice"].address)
    fill(localnet.store, 1, keys["bob"].address)
    pkg = localnet.package_id
    assert len(events(localnet, filter={"type": f"{pkg}::staking::Staked"})["edges"]) == 3
    assert len(events(localnet, filter={"type": f"{pkg}::k8s_gateway"})["edges"]) == 0
    assert len(events(localnet, filter={"module": f"{pkg}::staking"})["edges"]) == 3
    assert len(events(localnet, filter={"sender": keys["bob"].address})["edges"]) == 1
    assert len(events(localnet, filter={"afterCheckpoint": 1, "beforeCheckpoint": 3})["edges"]) == 1
    assert len(events(localnet, filter={"atCheckpoint": 3})["edges"]) == 1


async def test_chain_client_pages_events_with_a_persistable_cursor(
    localnet: Localnet, keys: dict[str, Keypair]
) -> None:
    fill(localnet.store, 23, keys["alice"].address)
    seen: list[tuple[int | None, int]] = []
    cursor: str | None = None
    async with await ChainClient.connect(localnet.chain_settings(), ChainMetrics()) as chain:
        for _ in range(2):  # stop half way, as a restarted operator would
            page = await chain.events(cursor, limit=5)
            seen.extend((e.checkpoint, e.sequence_number) for e in page.events)
            cursor = page.cursor
    saved = cursor  # what an operator persists
    async with await ChainClient.connect(localnet.chain_settings(), ChainMetrics()) as chain:
        cursor = saved
        while True:
            page = await chain.events(cursor, limit=5)
            seen.extend((e.checkpoint, e.sequence_number) for e in page.events)
            assert page.cursor is not None
            cursor = page.cursor
            if not page.has_more:
                break
        assert page.checkpoint == 23
        typed = await chain.events(None, event_type=f"{localnet.package_id}::staking::Staked")
        assert all(e.name == "Staked" and e.module == "staking" for e in typed.events)
    assert seen == [(checkpoint, 0) for checkpoint in range(1, 24)]
