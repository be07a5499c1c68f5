"""k3s_daas.chain: typed errors, timeouts, retries of transient faults only, latency metrics.

Faults come from a real HTTP proxy in front of a real localnet; pysui is used unmodified.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from localnet_testing import FaultyProxy, Localnet, free_port
from prometheus_client import CollectorRegistry

from k3s_daas.chain import (
    ChainClient,
    ChainMalformedAnswer,
    ChainMetrics,
    ChainNotFound,
    ChainTransientError,
    Role,
    StakeStatus,
)
from k3s_daas.errors import UserError
from k3s_daas.settings import ChainSettings
from k3s_daas.sui.crypto import Keypair

USER_STAKE = {"amount": 600_000_000, "role": 0, "node_name": ""}


class Sleeps:
    """Records backoff delays instead of sleeping them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def samples(registry: CollectorRegistry, operation: str, outcome: str) -> float:
    value = registry.get_sample_value(
        "k3s_daas_chain_request_seconds_count", {"operation": operation, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
def proxy(localnet: Localnet) -> Iterator[FaultyProxy]:
    running = FaultyProxy(localnet.graphql_url, slow_s=2.0).start()
    yield running
    running.stop()


def staked(net: Localnet, key: Keypair) -> str:
    report = net.writer().call(key, "staking", "stake", USER_STAKE)
    return str(report["events"][0]["parsedJson"]["record_id"])


async def test_typed_records_and_tokens(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    record = staked(localnet, keys["alice"])
    issued = localnet.writer().call(
        keys["alice"],
        "k8s_gateway",
        "issue_seal_token",
        {"record": record, "permissions": ["pods:get"], "expires_in_ms": 5},
    )
    token = issued["events"][0]["parsedJson"]["token_id"]
    async with await ChainClient.connect(localnet.chain_settings(), ChainMetrics()) as chain:
        stake = await chain.get_stake_record(record)
        assert stake.role is Role.USER and stake.amount_mist == 600_000_000 and stake.meets_minimum
        assert stake.status is StakeStatus.ACTIVE and stake.owner == keys["alice"].address
        seal = await chain.get_seal_token(token)
        assert seal.permissions == ("pods:get",) and not seal.revoked
        assert seal.expired(seal.expires_at_ms) and not seal.expired(seal.expires_at_ms - 1)
        assert [s.object_id for s in await chain.owned_stake_records(keys["alice"].address)] == [record]
        assert [t.object_id for t in await chain.owned_seal_tokens(keys["alice"].address)] == [token]
        assert await chain.chain_identifier() == localnet.info.chain_identifier
        with pytest.raises(ChainNotFound):
            await chain.get_stake_record("0xdead")
        with pytest.raises(ChainNotFound):  # a SealToken is not a StakeRecord
            await chain.get_stake_record(token)
        with pytest.raises(ChainNotFound):
            await chain.get_seal_token("not an id")


async def test_many_records_are_read_in_batches(localnet: Localnet, keys: dict[str, Keypair]) -> None:
    from k3s_daas.localnet.state import Call

    ids = []
    for i in range(120):
        committed = localnet.store.execute(Call("staking", "stake", USER_STAKE), keys["bob"].address, i)
        ids.append(str(committed.effects.events[0].contents["record_id"]))
    async with await ChainClient.connect(localnet.chain_settings(), ChainMetrics()) as chain:
        found = await chain.get_stake_records([*ids, "0xdead"])
        assert set(found) == set(ids)
        assert len(await chain.owned_stake_records(keys["bob"].address)) == 120
        entries = await chain.all_stake_entries()  # the full resync: pages through the pool's table
        assert set(entries) == set(ids)
        assert all(e.amount_mist == 600_000_000 and e.owner == keys["bob"].address for e in entries.values())
        assert await chain.all_token_entries() == {}


async def test_transient_faults_are_retried_with_backoff(
    localnet: Localnet, proxy: FaultyProxy, keys: dict[str, Keypair]
) -> None:
    record = staked(localnet, keys["alice"])
    registry, sleeps = CollectorRegistry(), Sleeps()
    settings = localnet.chain_settings(url=proxy.graphql_url, retries=3)
    async with await ChainClient.connect(settings, ChainMetrics(registry), sleep=sleeps) as chain:
        proxy.faults["ObjectsWithEntries"] = ["503", "503"]
        assert (await chain.get_stake_record(record)).object_id == record
        assert len(sleeps.delays) == 2 and sleeps.delays[0] < sleeps.delays[1] * 2
        assert samples(registry, "stake_records", "transient") == 2
        assert samples(registry, "stake_records", "ok") == 1


async def test_retries_stop_after_the_configured_number(localnet: Localnet, proxy: FaultyProxy) -> None:
    registry, sleeps = CollectorRegistry(), Sleeps()
    settings = localnet.chain_settings(url=proxy.graphql_url, retries=2)
    async with await ChainClient.connect(settings, ChainMetrics(registry), sleep=sleeps) as chain:
        proxy.faults["Events"] = ["503"] * 10
        with pytest.raises(ChainTransientError) as raised:
            await chain.events()
        assert raised.value.operation == "events"
        assert isinstance(raised.value, UserError)
        assert samples(registry, "events", "transient") == 3
        assert len(sleeps.delays) == 2


async def test_a_slow_answer_times_out_and_counts_as_transient(localnet: Localnet, proxy: FaultyProxy) -> None:
    registry = CollectorRegistry()
    settings = localnet.chain_settings(url=proxy.graphql_url, retries=1, timeout_s=0.5)
    async with await ChainClient.connect(settings, ChainMetrics(registry), sleep=Sleeps()) as chain:
        proxy.faults["Deployment"] = ["slow", "slow"]
        started = time.monotonic()
        with pytest.raises(ChainTransientError, match=r"within 0\.5 s"):
            await chain.deployment()
        assert time.monotonic() - started < 1.9
        assert samples(registry, "deployment", "transient") == 2
        assert (await chain.deployment()).staking_pool_id == localnet.info.deployment.pool_id


async def test_malformed_answers_are_not_retried(
    localnet: Localnet, proxy: FaultyProxy, keys: dict[str, Keypair]
) -> None:
    record = staked(localnet, keys["alice"])
    registry, sleeps = CollectorRegistry(), Sleeps()
    settings = localnet.chain_settings(url=proxy.graphql_url)
    async with await ChainClient.connect(settings, ChainMetrics(registry), sleep=sleeps) as chain:
        await chain.deployment()
        proxy.faults["ObjectsWithEntries"] = ["garbage"]
        with pytest.raises(ChainMalformedAnswer):
            await chain.get_stake_record(record)
        assert sleeps.delays == []
        assert samples(registry, "stake_records", "malformed") == 1
        assert proxy.seen.count("ObjectsWithEntries") == 1


async def test_connect_retries_an_unreachable_endpoint_then_fails() -> None:
    registry, sleeps = CollectorRegistry(), Sleeps()
    settings = ChainSettings(url=f"http://127.0.0.1:{free_port()}/graphql", package_id="0x1", timeout_s=2.0, retries=2)
    with pytest.raises(ChainTransientError, match="cannot reach"):
        await ChainClient.connect(settings, ChainMetrics(registry), sleep=sleeps)
    assert len(sleeps.delays) == 2
    assert samples(registry, "connect", "transient") == 3


async def test_an_endpoint_without_the_sui_header_is_refused(localnet: Localnet, proxy: FaultyProxy) -> None:
    proxy.strip_header = True
    with pytest.raises(ChainMalformedAnswer, match="not a Sui GraphQL endpoint"):
        await ChainClient.connect(localnet.chain_settings(url=proxy.graphql_url), ChainMetrics(), sleep=Sleeps())


async def test_a_wrong_package_id_is_reported(localnet: Localnet) -> None:
    settings = localnet.chain_settings(package_id="0x" + "ab" * 32)
    async with await ChainClient.connect(settings, ChainMetrics()) as chain:
        with pytest.raises(ChainNotFound, match="is the package id right"):
            await chain.deployment()


def test_the_metrics_are_registered_only_where_asked() -> None:
    import prometheus_client

    registry = CollectorRegistry()
    ChainMetrics(registry).observe("events", "ok", 0.01)
    assert samples(registry, "events", "ok") == 1
    assert prometheus_client.REGISTRY.get_sample_value("k3s_daas_chain_request_seconds_count") is None


async def test_the_package_id_is_found_on_a_localnet(localnet: Localnet, keys: Any) -> None:
    async with await ChainClient.connect(localnet.chain_settings(package_id=""), ChainMetrics()) as chain:
        assert chain.package_id == localnet.package_id
        deployment = await chain.deployment()
        assert deployment.gateway_id == localnet.info.deployment.gateway_id
        assert deployment.chain_identifier == localnet.info.chain_identifier
