"""Fixtures of the operator's real-cluster tests: CRDs installed on the session's control plane,
a localnet on the wall clock, and the operator running against both as a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from operator_testing import Chain, OperatorProcess, operator_command, operator_env, running_chain

from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.processes import free_loopback_port
from k3s_daas.localnet.store import Store

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "k3s-daas-operator-test"


@pytest.fixture(scope="module")
def crds(control_plane: cluster.RunningCluster, kubectl) -> None:  # type: ignore[no-untyped-def]
    kubectl("apply", "-f", str(REPO / "crds"))
    for crd in ("sealtokens.k3s-daas.io", "stakednodes.k3s-daas.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    if kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        kubectl("create", "namespace", NAMESPACE)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with running_chain(Store(tmp_path_factory.mktemp("localnet") / "chain.sqlite3")) as running:
        yield running


@pytest.fixture
def start_operator(
    control_plane: cluster.RunningCluster, crds: None, chain: Chain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator:  # type: ignore[type-arg]
    """Start operators (extra flags choosable); all are stopped at the end of the test."""
    started: list[OperatorProcess] = []
    log_dir = tmp_path_factory.mktemp("operator")
    kubectl_ns = NAMESPACE

    def start(*extra: str) -> OperatorProcess:
        port = free_loopback_port()
        argv = operator_command(control_plane.admin_kubeconfig, port, *extra)
        process = OperatorProcess(argv, operator_env(chain, kubectl_ns), log_dir / f"operator-{len(started)}.log", port)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()
