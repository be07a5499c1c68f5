"""Leader election against a slow API server: the leader stops before a standby may take over.

Pure logic of ``LeaderElector`` over an in-memory Lease API (optimistic concurrency by resourceVersion)
and an injected clock: the real event loop's time plus a virtual offset the test advances, so the
renew deadline's ``asyncio.timeout`` runs in real time only for the last fraction of a second.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any, cast

import pytest

from k3s_daas_operator.kube import Conflict, KubeClient, KubeError, NotFound
from k3s_daas_operator.leader import (
    LEASE_DURATION_S,
    RENEW_DEADLINE_S,
    RETRY_PERIOD_S,
    LeaderElector,
    LostLeadership,
)

NAMESPACE = "k3s-daas"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class LeaseStore:
    """One Lease with the API server's rules: create fails if it exists, replace needs the current version."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0

    def write(self, body: dict[str, Any], *, create: bool) -> dict[str, Any]:
        if create and self.lease is not None:
            raise Conflict(409, "already exists")
        if not create:
            if self.lease is None:
                raise NotFound(404, "not found")
            if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                raise Conflict(409, "the object has been modified")
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)


class LeaseApi:
    """One replica's view of the store; ``hang`` makes its calls never answer (a slow or partitioned API
    server), ``on_read`` runs while a read is in flight."""

    def __init__(self, store: LeaseStore) -> None:
        self.store = store
        self.hang = False
        self.on_read: Callable[[], None] | None = None

    async def _stall(self) -> None:
        if self.hang:
            await asyncio.Event().wait()

    async def get(self, path: str) -> dict[str, Any]:
        await self._stall()
        if self.on_read is not None:
            self.on_read()
        if self.store.lease is None:
            raise NotFound(404, f"{path} not found")
        return copy.deepcopy(self.store.lease)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        await self._stall()
        return self.store.write(copy.deepcopy(body), create=True)

    async def replace(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        await self._stall()
        return self.store.write(copy.deepcopy(body), create=False)


def _elector(api: LeaseApi, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(cast(KubeClient, api), NAMESPACE, identity, clock=clock)


async def test_a_leader_whose_renewals_hang_stops_before_the_standby_may_take_over():
    store, clock = LeaseStore(), Clock()
    leader_api, standby_api = LeaseApi(store), LeaseApi(store)
    leader, standby = _elector(leader_api, "leader", clock), _elector(standby_api, "standby", clock)
    assert await leader.try_acquire_or_renew()
    renewed_at = clock()
    assert not await standby.try_acquire_or_renew()  # the standby starts counting from this read

    # The leader's API calls now hang (they would take up to 30 s each in the real client). It tries
    # again when 9.7 s have passed since its last renewal: the attempt must be cut at the deadline.
    leader_api.hang = True
    clock.advance(RENEW_DEADLINE_S - 0.3)
    with pytest.raises(LostLeadership, match="did not answer in time"):
        await leader.renew()
    stopped_at = clock()
    assert stopped_at < renewed_at + RENEW_DEADLINE_S + 0.25  # loop latency only

    # The standby polls until it may take the Lease.
    took_at = None
    for _ in range(30):
        if await standby.try_acquire_or_renew():
            took_at = clock()
            break
        clock.advance(1.0)
    assert took_at is not None, "the standby never took over"
    assert store.lease is not None and store.lease["spec"]["holderIdentity"] == "standby"
    assert took_at >= renewed_at + LEASE_DURATION_S
    assert took_at - stopped_at >= LEASE_DURATION_S - RENEW_DEADLINE_S - 0.25


async def test_a_renewal_that_starts_past_the_deadline_stops_without_calling_the_api():
    store, clock = LeaseStore(), Clock()
    api = LeaseApi(store)
    leader = _elector(api, "leader", clock)
    assert await leader.try_acquire_or_renew()
    api.hang = True
    clock.advance(RENEW_DEADLINE_S)
    with pytest.raises(LostLeadership, match=r"within 10 s"):
        await asyncio.wait_for(leader.renew(), timeout=5)


async def test_a_leader_that_sees_another_holder_stops_at_once():
    store, clock = LeaseStore(), Clock()
    leader = _elector(LeaseApi(store), "leader", clock)
    assert await leader.try_acquire_or_renew()
    assert store.lease is not None
    # Someone else holds it now (e.g. took it while this process was paused): well before the deadline.
    store.write({**store.lease, "spec": {**store.lease["spec"], "holderIdentity": "other"}}, create=False)
    clock.advance(RETRY_PERIOD_S)
    with pytest.raises(LostLeadership, match="held by other"):
        await leader.renew()


async def test_failed_renewals_are_retried_until_the_deadline():
    store, clock = LeaseStore(), Clock()
    api = LeaseApi(store)
    leader = _elector(api, "leader", clock)
    assert await leader.try_acquire_or_renew()

    def unreachable() -> None:
        raise KubeError(0, "connection refused")

    api.on_read = unreachable
    clock.advance(RENEW_DEADLINE_S - 1)
    await leader.renew()  # failed, but there is time left: still leading
    clock.advance(1)
    with pytest.raises(LostLeadership):
        await leader.renew()
    api.on_read = None


async def test_a_standby_counts_the_lease_age_from_when_its_read_returned():
    store, clock = LeaseStore(), Clock()
    leader = _elector(LeaseApi(store), "leader", clock)
    standby_api = LeaseApi(store)
    standby = _elector(standby_api, "standby", clock)
    assert await leader.try_acquire_or_renew()
    # A read that takes 20 s returns a record the standby has never seen: it is new, not 20 s old.
    standby_api.on_read = lambda: clock.advance(20)
    assert not await standby.try_acquire_or_renew()
    standby_api.on_read = None
    assert not await standby.try_acquire_or_renew()
    clock.advance(LEASE_DURATION_S)
    assert await standby.try_acquire_or_renew()
