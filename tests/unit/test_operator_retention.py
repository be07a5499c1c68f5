"""Memory follows the objects that exist: what the operator kept about deleted ones is forgotten on resync."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from k3s_daas.chain import ChainEvent, EventPage, SealToken, StakeRecord
from k3s_daas.settings import OperatorSettings
from k3s_daas.stake import Role
from k3s_daas_operator.chain_view import ChainView
from k3s_daas_operator.context import Context
from k3s_daas_operator.index import ClusterIndex, Kind
from k3s_daas_operator.retention import forget_retired

OWNER = "0x" + "a" * 64


def hex_id(prefix: str, i: int) -> str:
    return f"0x{prefix}{i:063x}"


def record_of(token_id: str) -> str:
    return "0xd" + token_id[3:]


class FakeChain:
    """Every token exists and is backed by its own stake record; every record exists."""

    package_id = "0x" + "f" * 64

    def __init__(self) -> None:
        self.token_reads: list[str] = []

    async def get_seal_tokens(self, ids: Sequence[str]) -> dict[str, SealToken]:
        self.token_reads.extend(ids)
        return {i: SealToken(i, 1, OWNER, record_of(i), ("pods:get",), 0, 10**13, None, 100) for i in ids}

    async def get_stake_records(self, ids: Sequence[str]) -> dict[str, StakeRecord]:
        return {i: StakeRecord(i, 1, OWNER, Role.USER, 10**9, "", 0, None, 100) for i in ids}

    async def latest_checkpoint(self) -> int:
        return 100


def sealtoken(name: str, token_id: str, version: int = 1) -> dict[str, Any]:
    meta = {"name": name, "uid": f"uid-{name}", "resourceVersion": str(version), "generation": 1}
    return {"metadata": meta, "spec": {"owner": OWNER, "tokenObject": token_id}}


def stakednode(name: str, record: str, node: str, secret: str) -> dict[str, Any]:
    meta = {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", "generation": 1}
    spec = {"nodeName": node, "owner": OWNER, "stakeRecord": record}
    return {"metadata": meta, "spec": spec, "status": {"bootstrapTokenSecret": secret}}


def context(chain: FakeChain) -> Context:
    return Context(
        settings=OperatorSettings(),
        kube=None,  # type: ignore[arg-type]
        view=ChainView(chain),  # type: ignore[arg-type]
        index=ClusterIndex(),
        queue=None,  # type: ignore[arg-type]
        recorder=None,  # type: ignore[arg-type]
        metrics=None,  # type: ignore[arg-type]
    )


async def test_a_churn_of_created_and_deleted_objects_leaves_nothing_behind() -> None:
    chain = FakeChain()
    ctx = context(chain)
    kept_token = hex_id("c", 0)
    ctx.index.upsert_sealtoken(sealtoken("kept", kept_token))
    await ctx.view.refresh_tokens([kept_token])
    await ctx.view.refresh_stakes([record_of(kept_token)])
    baseline = (len(ctx.view.tokens), len(ctx.view.stakes), len(ctx.view.stake_to_tokens))

    for i in range(1, 200):
        token_id, node_record = hex_id("c", i), hex_id("e", i)
        ctx.index.upsert_sealtoken(sealtoken(f"t{i}", token_id))
        ctx.index.upsert_stakednode(stakednode(f"n{i}", node_record, f"node-{i}", f"bootstrap-token-{i:06x}"))
        await ctx.view.refresh_tokens([token_id])
        await ctx.view.refresh_stakes([record_of(token_id), node_record])
        ctx.view.token_changed(token_id, 200)  # an event made it stale
        ctx.view.stake_changed(hex_id("9", i), 200)  # a stake no resource names
        ctx.view.slash_reasons[node_record] = "slashed"
        ctx.known_secrets.add(f"bootstrap-token-{i:06x}")
        ctx.drain_backoff[f"node-{i}"] = 2
        ctx.index.delete(Kind.SEALTOKEN, sealtoken(f"t{i}", token_id))
        ctx.index.delete(Kind.STAKEDNODE, stakednode(f"n{i}", node_record, f"node-{i}", ""))

    forget_retired(ctx)
    ctx.index.forget_deletions(older_than_s=0)

    view = ctx.view
    assert (len(view.tokens), len(view.stakes), len(view.stake_to_tokens)) == baseline
    assert view.tokens_of_stake(record_of(kept_token)) == {kept_token}
    assert not view.slash_reasons and not view.entries
    assert not view._stale_tokens and not view._stale_stakes
    assert not ctx.known_secrets and not ctx.drain_backoff
    index = ctx.index
    assert not index._deleted and set(index._versions) == {"uid-kept"}
    assert set(index._by_token) == {kept_token} and not index._by_node and not index._by_record
    # What was kept is still used without a new read; what was forgotten is read again when named again.
    reads = len(chain.token_reads)
    assert not view.needs_token(kept_token, False)
    assert view.needs_token(hex_id("c", 5), False)
    assert len(chain.token_reads) == reads


async def test_a_deleted_uid_stays_refused_until_it_is_old() -> None:
    index = ClusterIndex()
    body = sealtoken("t", hex_id("c", 1))
    index.upsert_sealtoken(body)
    index.delete(Kind.SEALTOKEN, body)
    index.forget_deletions()
    # A listing taken before the deletion, arriving after it, does not bring the object back.
    assert index.upsert_sealtoken(sealtoken("t", hex_id("c", 1), version=1)) is None
    index.forget_deletions(older_than_s=0)
    assert index.upsert_sealtoken(sealtoken("t", hex_id("c", 1), version=1)) is not None


async def test_a_forgotten_slash_reason_is_read_from_the_events_again() -> None:
    fields = {"record_id": "0xr", "reason": "double signing"}
    slashed = ChainEvent("p::staking::Slashed", "staking", "Slashed", "p", fields, "c1", 100, None, None, "digest", 0)

    class Chain(FakeChain):
        async def events(self, after: str | None, event_type: str) -> EventPage:
            return EventPage((slashed,), "c1", False, 100)

    view = ChainView(Chain())  # type: ignore[arg-type]
    assert await view.slash_reason("0xr") == "double signing"
    view.retain(set(), set())
    assert not view.slash_reasons
    assert await view.slash_reason("0xr") == "double signing"
