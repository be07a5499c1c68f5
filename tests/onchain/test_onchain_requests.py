"""On-chain request mode on the real control plane, with localnet, the real operator and the webhook
running the executor (each as its ServiceAccount; manifests/components/onchain-requests for the
executor's impersonation).

Users sign requests on chain with `k3s-daas request`; the executor runs them as `sui:<sender>`; the
answer comes back signed by the webhook's enclave key and is verified by the CLI.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import json
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from onchain_testing import (
    CLI,
    CLUSTER_ID,
    NAMESPACE,
    ONCHAIN_BODY_BYTES,
    ChainProxy,
    RequestCli,
    Scrape,
    WebhookProcess,
    register_enclave,
    scrape,
)
from operator_testing import SUI, Chain, apply, get_json, sealtoken_resource, wait_for

from k3s_daas.chain import ChainClient, StoredResponse
from k3s_daas.chain.enclave import RegisteredEnclave
from k3s_daas.controlplane.processes import free_loopback_port
from k3s_daas.localnet.store import Store
from k3s_daas.onchain_requests.client import kept_off_chain
from k3s_daas.onchain_requests.signing import body_digest
from k3s_daas.onchain_requests.verify import ResponseRejected, verify_response
from k3s_daas.sealtoken import api_claims, sign
from k3s_daas.settings import ChainSettings
from k3s_daas.sui import Keypair, SignatureScheme
from k3s_daas.sui.keystore import write_keystore
from k3s_daas_operator.onchain_requests import metrics

pytestmark = pytest.mark.cluster

T = TypeVar("T")


# ---- actors --------------------------------------------------------------------------------------


@dataclass
class User:
    key: Keypair
    keystore: Path
    kubeconfig: Path

    @property
    def username(self) -> str:
        return f"sui:{self.key.address}"

    def flags(self) -> tuple[str, ...]:
        return ("--keystore", str(self.keystore), "--address", self.key.address)


def _user(kubectl, control_plane, chain: Chain, directory: Path, label: str, permissions: list[str] | None) -> User:  # type: ignore[no-untyped-def]
    """A key; with ``permissions``, a user stake, a Seal token on chain and its SealToken, Active."""
    key = Keypair.generate(SignatureScheme.ED25519)
    keystore = directory / f"{label}.keystore"
    write_keystore(keystore, [key])
    if permissions is not None:
        record = chain.stake(key, 0, SUI // 2)
        token = chain.issue(key, record, permissions)
        name = f"onchain-{label}-{token[2:14]}"
        apply(kubectl, sealtoken_resource(name, key.address, token))
        wait_for(f"SealToken {name} Active", lambda: _phase(kubectl, name) == "Active", timeout=60)
    kubeconfig = directory / f"{label}.kubeconfig"
    subprocess.run(
        [CLI, "kubeconfig", "--server", control_plane.server, "--ca", str(control_plane.ca_file), "--cluster-id",
         CLUSTER_ID, "--keystore", str(keystore), "--address", key.address, "--exec-command", CLI, "--output",
         str(kubeconfig)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return User(key, keystore, kubeconfig)


def _phase(kubectl, name: str) -> str | None:  # type: ignore[no-untyped-def]
    return ((get_json(kubectl, "sealtoken", name) or {}).get("status") or {}).get("phase")


@pytest.fixture(scope="module")
def alice(kubectl, control_plane, chain, operator, webhook, tmp_path_factory) -> User:  # type: ignore[no-untyped-def]
    """Reads namespaces, reads and writes ConfigMaps."""
    permissions = ["namespaces:read", "configmaps:read", "configmaps:write"]
    return _user(kubectl, control_plane, chain, tmp_path_factory.mktemp("alice"), "alice", permissions)


@pytest.fixture(scope="module")
def bob(kubectl, control_plane, chain, operator, webhook, tmp_path_factory) -> User:  # type: ignore[no-untyped-def]
    """Reads pods, nothing else."""
    return _user(kubectl, control_plane, chain, tmp_path_factory.mktemp("bob"), "bob", ["pods:read"])


# ---- chain reads ---------------------------------------------------------------------------------


def _read(chain: Chain, read: Callable[[ChainClient], Any]) -> Any:
    async def run() -> Any:
        async with await ChainClient.connect(
            ChainSettings(url=chain.graphql_url, package_id=chain.package_id)
        ) as client:
            return await read(client)

    return asyncio.run(run())


def _latest_request_id(chain: Chain) -> int:
    query = "query($id: SuiAddress!) { object(address: $id) { asMoveObject { contents { json } } } }"
    writer = chain.writer()
    gateway = writer.info()["gatewayId"]
    return (
        int(writer.graphql(query, {"id": gateway})["object"]["asMoveObject"]["contents"]["json"]["next_request_id"]) - 1
    )


def _response(chain: Chain, request_id: int, timeout: float = 60) -> StoredResponse:
    return wait_for(
        f"the response to request {request_id}",
        lambda: _read(chain, lambda client: client.response(request_id)),
        timeout=timeout,
        interval=0.3,
    )


def _submit(chain: Chain, key: Keypair, method: str, path: str, payload: str = "") -> int:
    report = chain.writer().call(
        key, "k8s_gateway", "submit_request", {"method": method, "path": path, "payload": payload}
    )
    return int(report["events"][0]["parsedJson"]["request_id"])


def _direct(control_plane, key: Keypair, path: str) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """GET ``path`` straight from the API server with a Seal token of ``key`` (no chain)."""
    bearer = sign(key, api_claims(key.address, CLUSTER_ID, int(time.time()), 600))
    host, port = control_plane.server.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(control_plane.ca_file))
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


# ---- the tests -----------------------------------------------------------------------------------


def test_a_get_through_the_chain_prints_what_the_api_server_answers(
    kubectl, chain: Chain, alice: User, request_cli: RequestCli
) -> None:
    done = request_cli("GET", "/api/v1/namespaces", *alice.flags())
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["kind"] == "NamespaceList"
    assert NAMESPACE in {item["metadata"]["name"] for item in listed["items"]}
    # The list is larger than the on-chain limit: the chain holds its digest, the webhook its body.
    response = _response(chain, _latest_request_id(chain))
    assert response.status_code == 200 and kept_off_chain(response)
    assert len(done.stdout.encode()) > ONCHAIN_BODY_BYTES
    # YAML, as kubectl -o yaml.
    as_yaml = request_cli("GET", f"/api/v1/namespaces/{NAMESPACE}", "-o", "yaml", *alice.flags())
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert f"name: {NAMESPACE}" in as_yaml.stdout and as_yaml.stdout.startswith("kind: Namespace")


def test_a_create_through_the_chain_happens_as_the_sender(
    kubectl, tmp_path: Path, chain: Chain, alice: User, request_cli: RequestCli
) -> None:
    manifest = tmp_path / "configmap.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-chain\ndata:\n  a: b\n")
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    done = request_cli("POST", path, "--file", str(manifest), *alice.flags())
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["metadata"]["name"] == "via-chain" and created["data"] == {"a": "b"}
    stored = get_json(kubectl, "configmap", "via-chain", "-n", NAMESPACE)
    assert stored is not None and stored["data"] == {"a": "b"}
    # Written by the impersonated request: the API server records the executor's client as manager.
    assert {entry["manager"] for entry in created["metadata"]["managedFields"]} == {"k3s-daas-onchain-requests"}
    # A small body is kept on chain, in full, under its digest.
    response = _response(chain, _latest_request_id(chain))
    assert response.status_code == 201 and not kept_off_chain(response)
    assert json.loads(response.body) == created and response.body_digest == body_digest(response.body.encode())
    # The same create again: the API server's own AlreadyExists, as kubectl prints it.
    again = request_cli("POST", path, "--file", str(manifest), *alice.flags())
    assert again.returncode == 1
    assert again.stderr.strip() == 'Error from server (AlreadyExists): configmaps "via-chain" already exists'


def test_an_address_without_permission_gets_the_api_servers_own_forbidden(
    kubectl, control_plane, chain: Chain, bob: User, request_cli: RequestCli
) -> None:
    through_chain = request_cli("GET", "/api/v1/namespaces", *bob.flags())
    as_kubectl = subprocess.run(
        [str(kubectl.binary), f"--kubeconfig={bob.kubeconfig}", "get", "--raw", "/api/v1/namespaces"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert through_chain.returncode == 1 and as_kubectl.returncode == 1
    expected = (
        f'Error from server (Forbidden): namespaces is forbidden: User "{bob.username}" cannot list resource '
        '"namespaces" in API group "" at the cluster scope'
    )
    assert through_chain.stderr.strip() == expected
    assert as_kubectl.stderr.strip().splitlines()[-1] == expected
    # The recorded Status is the API server's, field for field.
    status, direct = _direct(control_plane, bob.key, "/api/v1/namespaces")
    response = _response(chain, _latest_request_id(chain))
    assert status == response.status_code == 403
    assert json.loads(response.body) == direct


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "message"),
    [
        ("GET", "/healthz", "", 400, "on-chain requests reach /api and /apis only"),
        ("GET", "/api/v1/../../healthz", "", 400, "'.' or '..' segments"),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", "{not json", 400, "the payload is not JSON"),
        ("PUT", f"/api/v1/namespaces/{NAMESPACE}/configmaps/x", "[1]", 400, "a PUT payload is a JSON object"),
        ("PATCH", f"/api/v1/namespaces/{NAMESPACE}/configmaps/x", "42", 400, "a PATCH payload is a JSON merge patch"),
        ("GET", "/api/v1/namespaces?watch=true", "", 400, "watch streams"),
        ("GET", "/api/v1/namespaces", "{}", 400, "a GET carries no payload"),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/pods/p/exec", "{}", 400, "streams or upgrades the connection"),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", "{" + " " * 20_000 + "}", 413, "at most 16384"),
    ],
)
def test_a_malformed_request_is_answered_with_a_recorded_error(
    chain: Chain, alice: User, method: str, path: str, payload: str, status: int, message: str
) -> None:
    response = _response(chain, _submit(chain, alice.key, method, path, payload))
    assert response.status_code == status
    answered = json.loads(response.body)
    assert answered["kind"] == "Status" and answered["code"] == status and message in answered["message"]


def test_an_address_without_a_seal_token_is_unauthorized(chain: Chain, webhook: WebhookProcess) -> None:
    stranger = Keypair.generate(SignatureScheme.SECP256K1)
    response = _response(chain, _submit(chain, stranger, "GET", "/api/v1/namespaces"))
    answered = json.loads(response.body)
    assert response.status_code == 401 and answered["reason"] == "Unauthorized"
    assert f"no SealToken resource owned by {stranger.address}" in answered["message"]


def test_the_off_chain_body_is_for_the_sender_only(
    chain: Chain, alice: User, bob: User, request_cli: RequestCli, webhook: WebhookProcess
) -> None:
    done = request_cli("GET", "/api/v1/namespaces", *alice.flags())
    assert done.returncode == 0, done.stderr
    request_id = _latest_request_id(chain)
    # `request verify` without the sender's key verifies the signature, then cannot read the body.
    anonymous = request_cli("verify", str(request_id))
    assert anonymous.returncode == 1 and "only its sender's key reads it" in anonymous.stderr
    as_bob = request_cli("verify", str(request_id), *bob.flags())
    assert as_bob.returncode == 1 and "403" in as_bob.stderr and "only its sender reads its body" in as_bob.stderr
    as_alice = request_cli("verify", str(request_id), *alice.flags())
    assert as_alice.returncode == 0, as_alice.stderr
    assert "verified" in as_alice.stderr and json.loads(as_alice.stdout) == json.loads(done.stdout)


def test_a_tampered_response_is_rejected_by_the_verifier(chain: Chain, alice: User, request_cli: RequestCli) -> None:
    done = request_cli("GET", f"/api/v1/namespaces/{NAMESPACE}", *alice.flags())
    assert done.returncode == 0, done.stderr
    request_id = _latest_request_id(chain)
    response: StoredResponse = _response(chain, request_id)
    enclaves: list[RegisteredEnclave] = _read(chain, lambda client: client.enclaves())
    assert verify_response(response, enclaves).object_id == response.enclave_id
    flipped = bytes([response.signature[0] ^ 1]) + response.signature[1:]
    tampered = {
        "bad_signature": [
            dataclasses.replace(response, signature=flipped),
            dataclasses.replace(response, status_code=500),
            dataclasses.replace(response, signed_at_ms=response.signed_at_ms + 1),
            dataclasses.replace(response, request_id=response.request_id + 1000),
        ],
        "bad_body_digest": [dataclasses.replace(response, body=response.body.replace(NAMESPACE, "kube-system"))],
        "unknown_enclave": [dataclasses.replace(response, enclave_id="0x" + "ab" * 32)],
    }
    for reason, answers in tampered.items():
        for answer in answers:
            with pytest.raises(ResponseRejected) as rejected:
                verify_response(answer, enclaves)
            assert rejected.value.reason == reason
    # Another key's signature over the very same response: refused too.
    other = [dataclasses.replace(e, public_key=bytes(32 - 1) + b"\x01") for e in enclaves]
    with pytest.raises(ResponseRejected):
        verify_response(response, other)


ANSWERED = "k3s_daas_onchain_requests_answered_total"
RELAYS = "k3s_daas_onchain_requests_relays_total"
RERELAYS = "k3s_daas_onchain_requests_rerelays_total"
PENDING = "k3s_daas_onchain_requests_pending"
OLDEST = "k3s_daas_onchain_requests_oldest_pending_age_seconds"
RESPONSE_COUNT = "k3s_daas_onchain_requests_response_seconds_count"


def _answered(now: Scrape, before: Scrape | None = None) -> dict[tuple[str, str], float]:
    """Answers counted (since ``before``), by (outcome, status class); zeros left out."""
    counted = {}
    for outcome in metrics.OUTCOMES:
        for code in metrics.STATUS_CLASSES:
            value = now.value(ANSWERED, outcome=outcome, code=code)
            value -= before.value(ANSWERED, outcome=outcome, code=code) if before else 0
            if value:
                counted[(outcome, code)] = value
    return counted


def test_the_executor_counts_what_it_answers_on_the_webhooks_metrics(
    chain: Chain, alice: User, request_cli: RequestCli, webhook: WebhookProcess
) -> None:
    before = scrape(webhook.endpoint)
    done = request_cli("GET", f"/api/v1/namespaces/{NAMESPACE}", *alice.flags())
    assert done.returncode == 0, done.stderr
    assert _response(chain, _submit(chain, alice.key, "GET", "/healthz")).status_code == 400
    stranger = Keypair.generate(SignatureScheme.ED25519)
    assert _response(chain, _submit(chain, stranger, "GET", "/api/v1/namespaces")).status_code == 401

    def settled() -> Scrape | None:
        # The client may see a response a moment before the executor has counted its relay.
        now = scrape(webhook.endpoint)
        return now if now.delta(before, RELAYS, result="stored") == 3 and now.value(PENDING) == 0 else None

    after = wait_for("the three relays counted", settled, timeout=30)
    assert _answered(after, before) == {("executed", "2xx"): 1, ("refused", "4xx"): 1, ("unauthenticated", "4xx"): 1}
    assert after.delta(before, RESPONSE_COUNT) == 3
    assert after.delta(before, "k3s_daas_onchain_requests_response_seconds_bucket", le="+Inf") == 3
    assert 0 < after.delta(before, "k3s_daas_onchain_requests_response_seconds_sum") < 3 * 60
    for result in ("already_stored", "enclave_not_current", "failed"):
        assert after.delta(before, RELAYS, result=result) == 0, result
    for at in metrics.LOST_AT:
        assert after.delta(before, "k3s_daas_onchain_requests_claims_lost_total", at=at) == 0, at
    assert after.value(OLDEST) == 0 and after.value("k3s_daas_onchain_requests_enclave_registered") == 1
    assert abs(time.time() - after.value("k3s_daas_onchain_requests_last_poll_timestamp_seconds")) < 30
    # Bounded label values only: no path, address or request id ever becomes a series.
    assert after.labelled("k3s_daas_onchain_requests_") == {
        "outcome": {"executed", "refused", "unauthenticated"},
        "code": {"2xx", "4xx"},
        "result": set(metrics.RELAY_RESULTS),
        "at": set(metrics.LOST_AT),
        "recorded_by": {metrics.THIS_INSTANCE, metrics.ANOTHER_INSTANCE},
        "le": after.labelled("k3s_daas_onchain_requests_response_seconds_bucket")["le"],
    }


def test_the_executor_cannot_impersonate_system_identities(kubectl) -> None:
    sa = "system:serviceaccount:k3s-daas:k3s-daas-webhook"
    assert kubectl("auth", "can-i", "impersonate", "groups/k3s-daas:stakers", f"--as={sa}").stdout.strip() == "yes"
    refused = kubectl("auth", "can-i", "impersonate", "groups/system:masters", f"--as={sa}", check=False)
    assert refused.stdout.strip() == "no"


def test_two_executors_execute_each_create_once(
    kubectl, chain: Chain, store: Store, webhook: WebhookProcess, alice: User, tmp_path: Path
) -> None:
    """A second replica (another webhook process, its own enclave key) follows the same requests."""
    port = free_loopback_port()
    endpoint = dataclasses.replace(webhook.endpoint, port=port, url=f"https://127.0.0.1:{port}")
    argv = [*webhook.argv]
    argv[argv.index("--port") + 1] = str(port)
    second = WebhookProcess(endpoint, argv, webhook.env, tmp_path / "second.log", webhook.marker).start()
    try:
        register_enclave(store, second.public_key)
        before = scrape(webhook.endpoint)
        names = [f"replicas-{index}" for index in range(6)]
        path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
        ids = [_submit(chain, alice.key, "POST", path, json.dumps({"metadata": {"name": name}})) for name in names]
        responses = [_response(chain, request_id) for request_id in ids]
        # Each create ran once: a second execution of any would have answered 409 AlreadyExists.
        assert [r.status_code for r in responses] == [201] * len(ids)
        claims = [_claim(kubectl, chain, request_id) for request_id in ids]
        assert all(claim["statusCode"] == "201" for claim in claims)
        # Whichever replica answered, the answer verifies against its registered enclave key.
        enclaves = _read(chain, lambda c: c.enclaves())
        assert {verify_response(r, enclaves).public_key for r in responses} <= {webhook.public_key, second.public_key}
        # The replicas' metrics agree: six executions and six stored relays between them, whoever
        # lost a claim (or relayed an outcome the other recorded) in between.
        first_now, second_now = scrape(webhook.endpoint), scrape(second.endpoint)
        executed = first_now.delta(before, ANSWERED, outcome="executed", code="2xx")
        assert executed + second_now.value(ANSWERED, outcome="executed", code="2xx") == len(ids)
        stored = first_now.delta(before, RELAYS, result="stored") + second_now.value(RELAYS, result="stored")
        assert stored == len(ids)
    finally:
        second.stop()
    assert "on-chain request mode: executor" in second.log_text()


def _claim(kubectl, chain: Chain, request_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    gateway = chain.writer().info()["gatewayId"]
    name = f"k3s-daas-request-{gateway.removeprefix('0x')[:12]}-{request_id}"
    found = get_json(kubectl, "configmap", name, "-n", "k3s-daas")
    return dict((found or {}).get("data") or {})


def test_a_create_is_executed_once_when_the_executor_dies_before_the_chain_has_its_answer(
    kubectl, chain: Chain, store: Store, proxy: ChainProxy, webhook: WebhookProcess, alice: User
) -> None:
    payload = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "exactly-once"}})
    proxy.hold.set()  # the executor's store_k8s_response never reaches the chain
    try:
        request_id = _submit(chain, alice.key, "POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", payload)
        recorded = wait_for(
            "the outcome recorded in the claim", lambda: _claim(kubectl, chain, request_id).get("statusCode")
        )
        wait_for("the relay held by the proxy", lambda: proxy.held > 0)
        assert recorded == "201"
        claim = _claim(kubectl, chain, request_id)
        # The hanging relay shows: a pending request, growing older.
        held = wait_for("the held request pending", lambda: (s := scrape(webhook.endpoint)).value(OLDEST) > 0 and s)
        assert held.value(PENDING) == 1
        webhook.kill()
    finally:
        proxy.hold.clear()
    assert _read(chain, lambda client: client.response(request_id)) is None
    first_key = webhook.public_key
    webhook.start()  # a new process: a new enclave key, registered anew
    assert webhook.public_key != first_key
    # Until its key is registered, it executes nothing: the request waits, and the metrics say why.
    waiting = wait_for("the restarted executor to see the request", lambda: scrape(webhook.endpoint).value(PENDING))
    assert waiting == 1 and scrape(webhook.endpoint).value("k3s_daas_onchain_requests_enclave_registered") == 0
    register_enclave(store, webhook.public_key)
    response = _response(chain, request_id)
    # The recorded outcome was relayed, not recomputed: a second execution would have answered 409.
    assert response.status_code == 201
    assert response.signature.hex() == claim["signature"] and str(response.signed_at_ms) == claim["signedAtMs"]
    assert response.enclave_id == claim["enclaveId"]
    assert json.loads(response.body)["metadata"]["name"] == "exactly-once"
    assert _claim(kubectl, chain, request_id)["executor"] == claim["executor"]
    assert get_json(kubectl, "configmap", "exactly-once", "-n", NAMESPACE) is not None
    # Its metrics: the recorded outcome relayed again, nothing executed.
    relayed = wait_for(
        "the relay counted", lambda: (s := scrape(webhook.endpoint)).value(RELAYS, result="stored") and s
    )
    assert relayed.value(RERELAYS, recorded_by=metrics.ANOTHER_INSTANCE) == 1 and _answered(relayed) == {}
    # The restarted executor goes on with new requests, signed with its new key.
    after = _response(
        chain, _submit(chain, alice.key, "GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps/exactly-once")
    )
    assert after.status_code == 200 and after.enclave_id != response.enclave_id
    counted = wait_for("the GET counted", lambda: _answered(scrape(webhook.endpoint)))
    assert counted == {("executed", "2xx"): 1}
