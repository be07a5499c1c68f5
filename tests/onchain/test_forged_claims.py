"""A claim ConfigMap that no executor wrote: the executor in-process, on the real API server and a
localnet of its own, with claims forged the way anybody who may create ConfigMaps in the namespace
can forge them, before the executor first looks at their requests.

The enclave key must never sign or relay what such a claim says, and the requests after it must
still be answered: each forged claim is answered 500 under this executor's own signature.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from onchain_testing import NAMESPACE, expect_test_pcrs, register_enclave, running_executor
from operator_testing import running_chain
from prometheus_client import CollectorRegistry

from k3s_daas.chain import ChainClient
from k3s_daas.controlplane.cluster import RunningCluster
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.localnet.store import Store
from k3s_daas.onchain_requests.signing import body_digest
from k3s_daas.onchain_requests.verify import verify_response
from k3s_daas.settings import ChainSettings
from k3s_daas.sui import Keypair, SignatureScheme
from k3s_daas_operator.kube import KubeClient, load_connection
from k3s_daas_operator.onchain_requests.claim_store import ClaimStore
from k3s_daas_operator.onchain_requests.claims import Claim, SignedOutcome
from k3s_daas_operator.onchain_requests.metrics import ExecutorMetrics
from k3s_daas_operator.onchain_requests.requests import ChainRequest
from k3s_daas_operator.onchain_requests.transport import ImpersonatingTransport

pytestmark = pytest.mark.cluster

FORGED_BODY = '{"kind":"Status","code":200,"message":"forged"}'


def test_forged_claims_are_never_signed_and_do_not_block_later_requests(
    control_plane: RunningCluster, kubectl: Any, installed: None, tmp_path: Path
) -> None:
    store = Store(tmp_path / "chain.sqlite3")
    key = EnclaveKey.generate()
    registry = CollectorRegistry()
    sender = Keypair.generate(SignatureScheme.ED25519)
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"

    async def scenario(own: Any, current_enclave: str) -> None:
        connection = await asyncio.to_thread(load_connection, str(control_plane.admin_kubeconfig))
        kube, transport = KubeClient(connection), ImpersonatingTransport(connection, 5.0)
        settings = ChainSettings(url=own.graphql_url, package_id=own.package_id)
        gateway = await asyncio.to_thread(lambda: own.writer().info()["gatewayId"])
        forger = ClaimStore(kube, NAMESPACE, gateway)

        async def submit() -> ChainRequest:
            report = await asyncio.to_thread(
                own.writer().call,
                sender,
                "k8s_gateway",
                "submit_request",
                {"method": "GET", "path": path, "payload": ""},
            )
            return ChainRequest.from_event(report["events"][0]["parsedJson"])

        try:
            first, second, third = [await submit() for _ in range(3)]
            now = int(time.time() * 1000)
            # An unknown enclave, a digest of another body, a junk signature: what would be relayed,
            # or re-signed by the current enclave under EEnclaveNotCurrent, before the fix.
            unknown = SignedOutcome(200, FORGED_BODY, body_digest(b"{}"), "0x" + "77" * 32, now, b"\x01" * 64)
            # The current enclave, the right digest, a junk signature: a relay that failed forever.
            junk = SignedOutcome(
                200, FORGED_BODY, body_digest(FORGED_BODY.encode()), current_enclave, now, b"\x02" * 64
            )
            for request, outcome in ((first, unknown), (second, junk)):
                claim = Claim(request.request_id, request.sender, "forger", now, outcome)
                assert await forger.create(request, claim) is not None
            async with await ChainClient.connect(settings) as chain:
                async with running_executor(
                    chain=chain,
                    kube=kube,
                    transport=transport,
                    localnet_url=own.server.url,
                    key=key,
                    metrics=ExecutorMetrics(registry),
                    claims=ClaimStore(kube, NAMESPACE, gateway),
                    name="forged-claims",
                    execute_timeout_s=5.0,
                ):
                    deadline = time.monotonic() + 60
                    while (last := await chain.response(third.request_id)) is None:
                        assert time.monotonic() < deadline, "the request after the forged claims was not answered"
                        await asyncio.sleep(0.05)
                enclaves = await chain.enclaves()
                # Not a Seal-token holder: answered 401, by this executor, after the forged claims.
                assert last.status_code == 401
                assert verify_response(last, enclaves).public_key == key.public_key
                for request in (first, second):
                    response = await chain.response(request.request_id)
                    assert response is not None
                    assert response.status_code == 500 and response.body != FORGED_BODY
                    assert "not written by an executor" in json.loads(response.body)["message"]
                    assert verify_response(response, enclaves).public_key == key.public_key
        finally:
            await kube.close()
            await transport.close()

    with running_chain(store) as own:
        expect_test_pcrs(own.writer(), own.admin)
        current_enclave = register_enclave(store, key.public_key)
        asyncio.run(scenario(own, current_enclave))

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert sample("k3s_daas_onchain_requests_claims_tampered_total") == 2
    assert sample("k3s_daas_onchain_requests_answered_total", outcome="tampered", code="5xx") == 2
    assert sample("k3s_daas_onchain_requests_relays_total", result="failed") == 0
    assert sample("k3s_daas_onchain_requests_relays_total", result="stored") == 3
