"""Fixtures of the on-chain request tests: the session's control plane with manifests/ installed
(and the component manifests/components/onchain-requests), a localnet behind a proxy, the real
operator and the webhook running the executor, each as its ServiceAccount, the webhook's enclave key
registered."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from onchain_testing import (
    CLUSTER_ID,
    NAMESPACE,
    ONCHAIN_BODY_BYTES,
    ChainProxy,
    RequestCli,
    WebhookProcess,
    expect_test_pcrs,
    register_enclave,
    request_env,
)

from k3s_daas import stack
from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.kubeconfig import token_kubeconfig, write_kubeconfig
from k3s_daas.controlplane.processes import free_loopback_port
from k3s_daas.controlplane.webhook_wiring import WebhookEndpoint
from k3s_daas.localnet.store import Store

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "operator"))
from operator_testing import Chain, OperatorProcess, operator_command, operator_env, running_chain  # noqa: E402

EXECUTE_TIMEOUT_S = 5


def service_account_kubeconfig(kubectl, control_plane, account: str, path: Path) -> Path:  # type: ignore[no-untyped-def]
    token = kubectl("create", "token", account, "-n", "k3s-daas", "--duration=2h").stdout.strip()
    write_kubeconfig(path, token_kubeconfig(control_plane.server, control_plane.ca_file.read_bytes(), token, account))
    return path


@pytest.fixture(scope="session")
def installed(control_plane: cluster.RunningCluster, kubectl) -> None:  # type: ignore[no-untyped-def]
    # What `k3s-daas up --onchain-requests` installs (the whole base: the operator's Lease RBAC included).
    installer = stack.Kubectl(control_plane.kubectl, control_plane.admin_kubeconfig)
    stack.install_base(installer)
    stack.install_component(installer, stack.ONCHAIN_REQUESTS_COMPONENT)
    kubectl("create", "namespace", NAMESPACE)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("localnet") / "chain.sqlite3")


@pytest.fixture(scope="module")
def chain(store: Store) -> Iterator[Chain]:
    with running_chain(store) as running:
        expect_test_pcrs(running.writer(), running.admin)
        yield running


@pytest.fixture(scope="module")
def proxy(chain: Chain) -> Iterator[ChainProxy]:
    running = ChainProxy(chain.server.url).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def operator(control_plane, kubectl, installed, chain: Chain, tmp_path_factory) -> Iterator[OperatorProcess]:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("operator")
    kubeconfig = service_account_kubeconfig(kubectl, control_plane, "k3s-daas-operator", directory / "kubeconfig")
    port = free_loopback_port()
    argv = operator_command(kubeconfig, port)
    process = OperatorProcess(argv, operator_env(chain, "k3s-daas"), directory / "operator.log", port)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def webhook(  # type: ignore[no-untyped-def]
    control_plane,
    kubectl,
    installed,
    chain: Chain,
    proxy: ChainProxy,
    store: Store,
    webhook_endpoint: WebhookEndpoint,
    tmp_path_factory,
) -> Iterator[WebhookProcess]:
    directory = tmp_path_factory.mktemp("onchain-webhook")
    kubeconfig = service_account_kubeconfig(kubectl, control_plane, "k3s-daas-webhook", directory / "kubeconfig")
    argv = [
        sys.executable, "-m", "k3s_daas.cli", "webhook", "serve", "--port", str(webhook_endpoint.port),
        "--cert-file", str(webhook_endpoint.cert_file), "--key-file", str(webhook_endpoint.key_file),
        "--cluster-id", CLUSTER_ID, "--kubeconfig", str(kubeconfig), "--cluster-ca-file", str(control_plane.ca_file),
        "--onchain-requests",
    ]  # fmt: skip
    env = dict(os.environ)
    env.update(
        K3S_DAAS_CHAIN_URL=proxy.graphql_url,
        K3S_DAAS_PACKAGE_ID=chain.package_id,
        K3S_DAAS_ONCHAIN_REQUESTS_NAMESPACE="k3s-daas",
        K3S_DAAS_ONCHAIN_REQUESTS_POLL_INTERVAL_S="0.1",
        K3S_DAAS_ONCHAIN_REQUESTS_EXECUTE_TIMEOUT_S=str(EXECUTE_TIMEOUT_S),
        K3S_DAAS_ONCHAIN_REQUESTS_ONCHAIN_BODY_BYTES=str(ONCHAIN_BODY_BYTES),
    )
    process = WebhookProcess(webhook_endpoint, argv, env, directory / "webhook.log", str(kubeconfig)).start()
    register_enclave(store, process.public_key)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def request_cli(chain: Chain, webhook_endpoint: WebhookEndpoint) -> RequestCli:
    return RequestCli(request_env(chain.graphql_url, chain.package_id, CLUSTER_ID, webhook_endpoint))
