"""A claim lost to another replica, step by step: the executor in-process, on the real API server and
a localnet of its own (so the module's webhook executor stays out of it), with another replica's
claim written at the one moment a race can put it: between this executor's read and its create.

What the metrics say must be what happened: one claim lost, the request left to the other replica,
and, once that replica's claim is stale (it stopped mid-execution), the create answered 504 without
being executed, relayed once, with the time from the event to the stored response observed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from onchain_testing import NAMESPACE, expect_test_pcrs, register_enclave, running_executor
from operator_testing import Chain, running_chain
from prometheus_client import CollectorRegistry

from k3s_daas.chain import ChainClient
from k3s_daas.controlplane.cluster import RunningCluster
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.localnet.store import Store
from k3s_daas.settings import ChainSettings
from k3s_daas.sui import Keypair, SignatureScheme
from k3s_daas_operator.kube import KubeClient, load_connection
from k3s_daas_operator.onchain_requests.claim_store import ClaimStore
from k3s_daas_operator.onchain_requests.claims import Claim
from k3s_daas_operator.onchain_requests.metrics import ExecutorMetrics
from k3s_daas_operator.onchain_requests.requests import ChainRequest
from k3s_daas_operator.onchain_requests.transport import ImpersonatingTransport

pytestmark = pytest.mark.cluster

EXECUTE_TIMEOUT_S = 0.5  # another replica's claim is stale after twice that


class AnotherReplicaFirst(ClaimStore):
    """The real claim store, except that before this executor's first create, another replica
    (``rival``) creates the same claim: the race this executor then loses with a 409."""

    rival = "another-replica"

    async def create(self, request: ChainRequest, claim: Claim) -> Claim | None:
        if claim.executor != self.rival:
            await super().create(request, dataclasses.replace(claim, executor=self.rival))
        return await super().create(request, claim)


@pytest.fixture
def own_chain(tmp_path: Path) -> Iterator[tuple[Chain, Store]]:
    """A localnet of this test's own, its PCRs set."""
    store = Store(tmp_path / "chain.sqlite3")
    with running_chain(store) as chain:
        expect_test_pcrs(chain.writer(), chain.admin)
        yield chain, store


def test_a_claim_lost_to_another_replica_is_counted_and_the_request_left_to_it(
    control_plane: RunningCluster, kubectl: Any, installed: None, own_chain: tuple[Chain, Store]
) -> None:
    own, store = own_chain
    key = EnclaveKey.generate()
    register_enclave(store, key.public_key)
    registry = CollectorRegistry()
    sender = Keypair.generate(SignatureScheme.ED25519)
    name = f"race-{int(time.time() * 1000)}"
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"

    async def scenario() -> None:
        connection = await asyncio.to_thread(load_connection, str(control_plane.admin_kubeconfig))
        kube, transport = KubeClient(connection), ImpersonatingTransport(connection, EXECUTE_TIMEOUT_S)
        settings = ChainSettings(url=own.graphql_url, package_id=own.package_id)
        gateway = await asyncio.to_thread(lambda: own.writer().info()["gatewayId"])
        try:
            async with (
                await ChainClient.connect(settings) as chain,
                running_executor(
                    chain=chain,
                    kube=kube,
                    transport=transport,
                    localnet_url=own.server.url,
                    key=key,
                    metrics=ExecutorMetrics(registry),
                    claims=AnotherReplicaFirst(kube, NAMESPACE, gateway),
                    name="claim-race",
                    execute_timeout_s=EXECUTE_TIMEOUT_S,
                ),
            ):
                report = await asyncio.to_thread(
                    own.writer().call,
                    sender,
                    "k8s_gateway",
                    "submit_request",
                    {"method": "POST", "path": path, "payload": json.dumps({"metadata": {"name": name}})},
                )
                request_id = int(report["events"][0]["parsedJson"]["request_id"])
                deadline = time.monotonic() + 30
                while (response := await chain.response(request_id)) is None:
                    assert time.monotonic() < deadline, "no response stored"
                    await asyncio.sleep(0.05)
                assert response.status_code == 504
                assert "whether it took effect is unknown" in json.loads(response.body)["message"]
        finally:
            await kube.close()
            await transport.close()

    asyncio.run(scenario())

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert sample("k3s_daas_onchain_requests_claims_lost_total", at="claim") == 1
    assert sample("k3s_daas_onchain_requests_claims_lost_total", at="take_over") == 0
    assert sample("k3s_daas_onchain_requests_answered_total", outcome="interrupted", code="5xx") == 1
    assert sample("k3s_daas_onchain_requests_answered_total", outcome="executed", code="2xx") == 0
    assert sample("k3s_daas_onchain_requests_relays_total", result="stored") == 1
    assert sample("k3s_daas_onchain_requests_response_seconds_count") == 1
    # The request waited for the other replica's claim to go stale: at least twice the timeout.
    assert sample("k3s_daas_onchain_requests_response_seconds_sum") >= 2 * EXECUTE_TIMEOUT_S
    # Not executed by anybody: the ConfigMap was never created.
    absent = kubectl("get", "configmap", name, "-n", NAMESPACE, "--ignore-not-found", "-o", "name")
    assert absent.stdout.strip() == ""
