"""Helpers for the operator's real-cluster tests: a wall-clock localnet, chain actors, and the
operator as a subprocess (`python -m k3s_daas.cli operator`), which tests can kill and restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.localnet.server import BackgroundServer, LocalnetApp
from k3s_daas.localnet.store import Store
from k3s_daas.sui.crypto import Keypair, SignatureScheme

T = TypeVar("T")
SUI = 1_000_000_000


@dataclass
class Chain:
    """A localnet on the wall clock, its admin (AdminCap holder), and a writer."""

    server: BackgroundServer
    admin: Keypair
    package_id: str

    @property
    def graphql_url(self) -> str:
        return self.server.graphql_url

    def writer(self) -> LocalnetClient:
        return LocalnetClient(self.server.url)

    def stake(self, key: Keypair, role: int, amount: int, node_name: str = "") -> str:
        report = self.writer().call(key, "staking", "stake", {"amount": amount, "role": role, "node_name": node_name})
        return str(report["events"][0]["parsedJson"]["record_id"])

    def issue(self, key: Keypair, record: str, permissions: list[str], expires_in_ms: int = 3_600_000) -> str:
        report = self.writer().call(
            key,
            "k8s_gateway",
            "issue_seal_token",
            {"record": record, "permissions": permissions, "expires_in_ms": expires_in_ms},
        )
        return str(report["events"][0]["parsedJson"]["token_id"])

    def revoke(self, key: Keypair, token: str) -> dict[str, Any]:
        return self.writer().call(key, "k8s_gateway", "revoke_seal_token", {"token_id": token})

    def slash(self, record: str, amount: int, reason: str = "misbehaved") -> dict[str, Any]:
        writer = self.writer()
        cap = writer.admin_cap(self.admin.address)
        arguments = {"cap": cap, "record_id": record, "amount": amount, "reason": reason}
        return writer.call(self.admin, "staking", "slash", arguments)


def new_key() -> Keypair:
    return Keypair.generate(SignatureScheme.ED25519)


@contextlib.contextmanager
def running_chain(store: Store) -> Iterator[Chain]:
    """A localnet on the wall clock over ``store``, initialised with a new admin; stopped on exit."""
    admin = new_key()
    info = store.initialise(admin.address, time.time_ns() // 1_000_000)
    with BackgroundServer(LocalnetApp(store)).running() as server:
        yield Chain(server, admin, info.deployment.package.package_id)


@dataclass
class OperatorProcess:
    """The operator in a subprocess, with its log in a file."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    metrics_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: Any = field(default=None, repr=False)

    def start(self) -> OperatorProcess:
        self.starts += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== start {self.starts} =====\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def assert_running(self) -> None:
        assert self.process is not None and self.process.poll() is None, f"operator exited:\n{self.log()[-4000:]}"


def operator_command(kubeconfig: Path, metrics_port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "k3s_daas.cli",
        "operator",
        f"--kubeconfig={kubeconfig}",
        f"--metrics-port={metrics_port}",
        "--poll-interval=0.1",
        *extra,
    ]


def operator_env(chain: Chain, namespace: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        K3S_DAAS_CHAIN_URL=chain.graphql_url,
        K3S_DAAS_PACKAGE_ID=chain.package_id,
        K3S_DAAS_OPERATOR_NAMESPACE=namespace,
        K3S_DAAS_METRICS_HOST="127.0.0.1",
    )
    return env


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except AssertionError as error:
            value, last = None, error
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last})")


def sealtoken_resource(name: str, owner: str, token_object: str) -> dict[str, Any]:
    return {
        "apiVersion": "k3s-daas.io/v1alpha1",
        "kind": "SealToken",
        "metadata": {"name": name},
        "spec": {"owner": owner, "tokenObject": token_object},
    }


def stakednode_resource(name: str, node_name: str, owner: str, stake_record: str) -> dict[str, Any]:
    return {
        "apiVersion": "k3s-daas.io/v1alpha1",
        "kind": "StakedNode",
        "metadata": {"name": name},
        "spec": {"nodeName": node_name, "owner": owner, "stakeRecord": stake_record},
    }


def apply(kubectl: Callable[..., subprocess.CompletedProcess[str]], document: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(document))


def get_json(kubectl: Callable[..., subprocess.CompletedProcess[str]], *args: str) -> dict[str, Any] | None:
    result = kubectl("get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    return dict(json.loads(result.stdout))
