"""Fixtures of the fault tests (marked ``cluster``): CRDs and a namespace on the session's control plane,
localnet behind a breakable proxy, operators as subprocesses, webhooks in-process watching the cluster."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chain_proxy import ChainProxy
from faults_testing import REPO, Chain, OperatorProcess, operator_command, running_chain, wait_for
from webhook_testing import LoopThread, RunningWebhook, loop_thread, make_tls, started_webhooks

from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.processes import free_loopback_port
from k3s_daas.localnet.store import Store

# The webhook tests' background loop, named here so pytest registers it for this folder.
__all__ = ["loop_thread"]

RUN = format(int(time.time() * 1000) % 10**8, "x")


@pytest.fixture(scope="module")
def crds(control_plane: cluster.RunningCluster, kubectl: Any) -> None:
    kubectl("apply", "-f", str(REPO / "crds"))
    for crd in ("sealtokens.k3s-daas.io", "stakednodes.k3s-daas.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


@pytest.fixture(scope="module")
def namespace(crds: None, kubectl: Any, request: pytest.FixtureRequest) -> str:
    """The operator's namespace (cursor, heartbeat, leader Lease), one per test module."""
    module = request.module.__name__.removeprefix("test_").replace("_", "-")
    name = f"faults-{module[:30]}-{RUN}"
    kubectl("create", "namespace", name)
    # Pods need the namespace's default ServiceAccount, which the controller manager creates.
    wait_for(
        "the default ServiceAccount", lambda: kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0
    )
    return name


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with running_chain(Store(tmp_path_factory.mktemp("localnet") / "chain.sqlite3")) as running:
        yield running


@pytest.fixture(scope="module")
def proxy(chain: Chain) -> Iterator[ChainProxy]:
    running = ChainProxy(chain.server.port, delay_s=3.0).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def start_operator(
    control_plane: cluster.RunningCluster, namespace: str, chain: Chain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operators (chain URL, extra flags and environment choosable); all stopped at the end."""
    started: list[OperatorProcess] = []
    log_dir = tmp_path_factory.mktemp("operator")

    def start(*extra: str, chain_url: str | None = None, **environment: str) -> OperatorProcess:
        # A port just probed free can be probed free again: two operators started back to back once got
        # the same one, and the second answered /metrics for both.
        taken = {p.metrics_port for p in started}
        while (port := free_loopback_port()) in taken:
            pass
        env = dict(os.environ)
        env.update(
            K3S_DAAS_CHAIN_URL=chain_url or chain.graphql_url,
            K3S_DAAS_PACKAGE_ID=chain.package_id,
            K3S_DAAS_OPERATOR_NAMESPACE=namespace,
            K3S_DAAS_METRICS_HOST="127.0.0.1",
            **environment,
        )
        argv = operator_command(control_plane.admin_kubeconfig, port, *extra)
        process = OperatorProcess(argv, env, log_dir / f"operator-{len(started)}.log", port)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def start_operator_behind_proxy(
    start_operator: Callable[..., OperatorProcess], proxy: ChainProxy
) -> Callable[..., OperatorProcess]:
    """Operators reading the chain through the breakable proxy, quick to notice its faults (1 s timeout,
    one retry) and to verify and publish their heartbeat."""

    def start(*extra: str) -> OperatorProcess:
        return start_operator(
            "--verify-interval=1",
            "--heartbeat-interval=0.5",
            *extra,
            chain_url=proxy.graphql_url,
            K3S_DAAS_CHAIN_TIMEOUT_S="1",
            K3S_DAAS_CHAIN_RETRIES="1",
        )

    return start


@pytest.fixture
def start_webhook(
    control_plane: cluster.RunningCluster, namespace: str, loop_thread: LoopThread, tmp_path: Path
) -> Iterator[Callable[..., RunningWebhook]]:
    """In-process webhooks watching the real API server (admin kubeconfig), heartbeat from ``namespace``."""
    kubeconfig = str(control_plane.admin_kubeconfig)
    with started_webhooks(
        loop_thread, make_tls(tmp_path), watch=True, kubeconfig=kubeconfig, project_namespace=namespace
    ) as start:
        yield start
