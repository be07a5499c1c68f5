"""`k3s-daas up`, the README's first command, as a user runs it: foreground, env file, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k3s_daas import up as up_module
from k3s_daas.controlplane.processes import free_loopback_port

pytestmark = pytest.mark.cluster


def _wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, f"up exited early: {process.communicate()[1]}"
        assert time.monotonic() < deadline, f"{path} not written in {timeout_s}s"
        time.sleep(0.2)


def _mentioning(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker in cmdline and state != "Z":
                found.append(int(proc.name))
    return found


def test_up_runs_the_stack_writes_env_and_stops_everything_on_interrupt(tmp_path: Path, control_plane) -> None:
    state_dir = tmp_path / "stack"
    environment = {**os.environ, "K3S_DAAS_LOCALNET_PORT": str(free_loopback_port())}
    up = subprocess.Popen(
        [sys.executable, "-m", "k3s_daas.cli", "up", "--state-dir", str(state_dir), "--webhook-port", "0"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(state_dir / "env", up, timeout_s=300)
        check = subprocess.run(
            [
                "bash",
                "-c",
                f"source {state_dir / 'env'} && kubectl get ns kube-system -o name && k3s-daas localnet info",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stderr
        assert "namespace/kube-system" in check.stdout and '"packageId"' in check.stdout
        env_text = (state_dir / "env").read_text()
        for name in ("KUBECONFIG", "K3S_DAAS_CHAIN_URL", "K3S_DAAS_CLUSTER_ID", "K3S_DAAS_SERVER", "K3S_DAAS_CA"):
            assert f"export {name}=" in env_text
        assert "K3S_DAAS_ADMIN_KEYSTORE" in env_text and "K3S_DAAS_ADMIN_ADDRESS" in env_text
        assert len(_mentioning(str(state_dir))) >= 4  # localnet, etcd, kube-apiserver, controller manager
    finally:
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=60)
    assert up.returncode == 0, err
    assert "source" in out
    assert _mentioning(str(state_dir)) == []
    assert not (state_dir / "env").exists()


def test_up_with_onchain_requests_answers_a_request_sent_through_the_chain(tmp_path: Path, control_plane) -> None:
    """`up --onchain-requests`, then the README's user with a Seal token allowing namespaces:read
    runs the command the banner prints: signed on chain, executed as that user, answered on chain."""
    state_dir = tmp_path / "stack"
    environment = {**os.environ, "K3S_DAAS_LOCALNET_PORT": str(free_loopback_port())}
    up = subprocess.Popen(
        [
            sys.executable, "-m", "k3s_daas.cli", "up", "--state-dir", str(state_dir), "--webhook-port", "0",
            "--onchain-requests",
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip

    def shell(command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", f"source {state_dir / 'env'} && {command}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{command}: {done.stderr}"
        return done.stdout

    def created(report: str, suffix: str) -> str:
        changes = json.loads(report)["objectChanges"]
        (found,) = [change["objectId"] for change in changes if change.get("objectType", "").endswith(suffix)]
        return str(found)

    try:
        _wait_for(state_dir / "env", up, timeout_s=300)
        alice = json.loads(shell("k3s-daas keygen --keystore alice.keystore"))["address"]
        sender = f"--keystore alice.keystore --address {alice}"
        record = created(
            shell(f"k3s-daas localnet stake {sender} --role user --amount-mist 500000000"), "::staking::StakeRecord"
        )
        issued = shell(
            f"k3s-daas localnet issue-token {sender} --stake-record {record} --permission namespaces:read "
            "--expires-in-ms 3600000"
        )
        token = created(issued, "::k8s_gateway::SealToken")
        name = f"sealtoken/seal-{token[2:42]}"  # created by the operator from the event (--create-from-events)
        shell(f"kubectl wait --for=create {name} --timeout=60s")
        shell(f"kubectl wait --for=jsonpath='{{.status.phase}}'=Active {name} --timeout=60s")
        listed = json.loads(shell(f"ALICE={alice} && {up_module.ONCHAIN_TRY}"))
        assert listed["kind"] == "NamespaceList"
        assert {"kube-system", "k3s-daas"} <= {item["metadata"]["name"] for item in listed["items"]}
        # The executor's claim of it, in the component's namespace: it ran as alice.
        claims = json.loads(shell("kubectl get configmaps -n k3s-daas -l k3s-daas.io/onchain-request -o json"))
        (claim,) = [item["data"] for item in claims["items"]]
        assert claim["sender"] == alice and claim["statusCode"] == "200" and claim["path"] == "/api/v1/namespaces"
    finally:
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=60)
    assert up.returncode == 0, err
    assert up_module.ONCHAIN_TRY in out
    assert "registered the webhook's development enclave key" in err
    assert _mentioning(str(state_dir)) == []
