"""ChainView's batched reads: a few queries in flight, each read dated by its own query."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from k3s_daas.chain import SealToken
from k3s_daas_operator.chain_view import BATCH, READS_IN_FLIGHT, ChainView

OWNER = "0x" + "a" * 64
RECORD = "0x" + "d" * 64


def token_id(i: int) -> str:
    return f"0x{i:064x}"


class FakeChain:
    """Each query is answered at the next checkpoint; ids ending in 7 do not exist."""

    def __init__(self) -> None:
        self.checkpoint = 100
        self.in_flight = 0
        self.most_in_flight = 0
        self.batches: list[int] = []

    async def get_seal_tokens(self, ids: Sequence[str]) -> dict[str, SealToken]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.checkpoint += 1
        checkpoint = self.checkpoint
        self.batches.append(len(ids))
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return {
            i: SealToken(i, 1, OWNER, RECORD, ("pods:get",), 0, 10**13, None, checkpoint)
            for i in ids
            if not i.endswith("7")
        }

    async def latest_checkpoint(self) -> int:
        return 999


async def test_reads_run_a_few_batches_at_once_and_date_each_by_its_query() -> None:
    chain = FakeChain()
    view = ChainView(chain)  # type: ignore[arg-type]
    wanted = [token_id(i) for i in range(BATCH * 6 + 3)]
    await view.refresh_tokens(wanted)
    assert chain.batches == [BATCH] * 6 + [3]
    assert chain.most_in_flight == READS_IN_FLIGHT
    assert view.queries == 7
    # Every read carries its own query's checkpoint, found or not: an event between two queries
    # is not taken as already seen by the earlier one.
    checkpoints = {view.checkpoint_of_token(token_id(i)) for i in range(BATCH)}
    assert len(checkpoints) == 1
    assert view.checkpoint_of_token(token_id(0)) != view.checkpoint_of_token(token_id(BATCH * 6))
    missing = token_id(7)
    assert view.token(missing) is None and view.checkpoint_of_token(missing) == view.checkpoint_of_token(token_id(0))
    assert view.stake_to_tokens[RECORD] == {t for t in wanted if not t.endswith("7")}
    # An event after the first query's checkpoint makes that read stale; one before it does not.
    first = view.checkpoint_of_token(token_id(0))
    assert first is not None
    assert not view.token_changed(token_id(0), first)
    assert view.token_changed(token_id(0), first + 1)
