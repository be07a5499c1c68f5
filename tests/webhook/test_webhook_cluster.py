"""The webhook behind a real kube-apiserver: kubectl with a kubeconfig from `k3s-daas kubeconfig` is
`sui:<address>` for each key scheme, bad/expired/revoked tokens are Unauthorized, RBAC decides after
authentication, and `k3s-daas join` hands an Active node its bootstrap token exactly once.

The SealToken and StakedNode status that the operator normally writes is written here through the
status subresource, so these tests do not depend on the operator.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from webhook_testing import call, rfc3339

from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.kubeconfig import token_kubeconfig, write_kubeconfig
from k3s_daas.controlplane.processes import ManagedProcess, spawn, stop, wait_until_ready
from k3s_daas.controlplane.webhook_wiring import WebhookEndpoint
from k3s_daas.sealtoken import api_claims, join_claims, sign
from k3s_daas.sui import Keypair, SignatureScheme
from k3s_daas.sui.keystore import write_keystore

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("k3s-daas"))
CLUSTER_ID = "webhook-cluster-test"
TEST_RUN = format(int(time.time() * 1000) % 10**8, "x")  # names stay unique across sessions on one cluster


def _object_id(label: str) -> str:
    return "0x" + hashlib.sha256(f"{TEST_RUN} {label}".encode()).hexdigest()


def _cli(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, check=False, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"k3s-daas {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


@pytest.fixture(scope="module")
def crds(control_plane: cluster.RunningCluster, kubectl) -> None:
    kubectl("apply", "-f", str(REPO / "crds"))
    for crd in ("sealtokens.k3s-daas.io", "stakednodes.k3s-daas.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


@pytest.fixture(scope="module")
def webhook_kubeconfig(control_plane: cluster.RunningCluster, kubectl, crds, tmp_path_factory) -> Path:
    """The webhook runs as its service account with exactly the RBAC of manifests/base/30-webhook-rbac.yaml."""
    kubectl("apply", "-f", str(REPO / "manifests" / "base" / "00-namespace.yaml"))
    kubectl("apply", "-f", str(REPO / "manifests" / "base" / "30-webhook-rbac.yaml"))
    token = kubectl("create", "token", "k3s-daas-webhook", "-n", "k3s-daas", "--duration=2h").stdout.strip()
    path = tmp_path_factory.mktemp("webhook-sa") / "kubeconfig"
    ca = control_plane.ca_file.read_bytes()
    write_kubeconfig(path, token_kubeconfig(control_plane.server, ca, token, "webhook"))
    return path


@pytest.fixture(scope="module")
def webhook(
    control_plane: cluster.RunningCluster,
    webhook_endpoint: WebhookEndpoint,
    webhook_kubeconfig: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WebhookEndpoint]:
    """`k3s-daas webhook serve` on the port the API server's authenticator config points at."""
    log = tmp_path_factory.mktemp("webhook-log") / "webhook.log"
    argv = [
        CLI,
        "webhook",
        "serve",
        "--port",
        str(webhook_endpoint.port),
        "--cert-file",
        str(webhook_endpoint.cert_file),
        "--key-file",
        str(webhook_endpoint.key_file),
        "--cluster-id",
        CLUSTER_ID,
        "--kubeconfig",
        str(webhook_kubeconfig),
        "--cluster-ca-file",
        str(control_plane.ca_file),
        "--agent-server-url",
        control_plane.server,
        "--shutdown-grace",
        "0.2",
    ]
    process: ManagedProcess = spawn("webhook", argv, log, str(webhook_kubeconfig), tie_to_parent=True)
    try:
        import ssl

        context = ssl.create_default_context(cafile=str(webhook_endpoint.ca_file))
        wait_until_ready(process, f"{webhook_endpoint.url}/readyz", context, log, time.monotonic() + 60)
        yield webhook_endpoint
    finally:
        stop([process])


class User:
    """A Sui key holder: keystore on disk, a SealToken resource, a kubeconfig from `k3s-daas kubeconfig`."""

    def __init__(self, scheme: SignatureScheme, directory: Path, control_plane: cluster.RunningCluster) -> None:
        self.key = Keypair.generate(scheme)
        self.keystore = directory / f"{scheme.label}.keystore"
        write_keystore(self.keystore, [Keypair.generate(SignatureScheme.ED25519), self.key])
        self.name = f"webhook-test-{TEST_RUN}-{scheme.label.lower()}"
        self.token_object = _object_id(self.name)
        self.kubeconfig = directory / f"{scheme.label}.kubeconfig"
        _cli(
            "kubeconfig",
            "--server",
            control_plane.server,
            "--ca",
            str(control_plane.ca_file),
            "--cluster-id",
            CLUSTER_ID,
            "--keystore",
            str(self.keystore),
            "--address",
            self.key.address,
            "--exec-command",
            CLI,
            "--output",
            str(self.kubeconfig),
        )

    @property
    def username(self) -> str:
        return f"sui:{self.key.address}"


def _create_sealtoken(kubectl, user: User) -> None:
    manifest = {
        "apiVersion": "k3s-daas.io/v1alpha1",
        "kind": "SealToken",
        "metadata": {"name": user.name},
        "spec": {"owner": user.key.address, "tokenObject": user.token_object},
    }
    kubectl("apply", "-f", "-", input=json.dumps(manifest))


def _write_status(kubectl, kind: str, name: str, status: dict) -> None:
    """As the operator does: through the status subresource."""
    kubectl("patch", kind, name, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


def _active(role: str = "user", stake_mist: int = 600_000_000, phase: str = "Active") -> dict:
    now = time.time()
    return {
        "phase": phase,
        "role": role,
        "stakeMist": str(stake_mist),
        "stakeSui": str(stake_mist / 1e9),
        "expiresAt": rfc3339(now + 3600),
        "lastVerified": rfc3339(now),
        "permissions": ["pods:read"],
    }


def _kubectl_as(kubectl, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl.binary), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _whoami(kubectl, kubeconfig: Path) -> dict:
    result = _kubectl_as(kubectl, kubeconfig, "auth", "whoami", "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["status"]["userInfo"]


def _static_token_kubeconfig(source: Path, token: str, target: Path) -> Path:
    document = yaml.safe_load(source.read_text())
    document["users"][0]["user"] = {"token": token}
    write_kubeconfig(target, document)
    return target


def _eventually(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


@pytest.mark.parametrize("scheme", list(SignatureScheme), ids=lambda s: s.label)
def test_kubectl_is_the_sui_address_and_rbac_decides(
    webhook, control_plane, kubectl, tmp_path, scheme: SignatureScheme
) -> None:
    user = User(scheme, tmp_path, control_plane)
    _create_sealtoken(kubectl, user)
    _write_status(kubectl, "sealtoken", user.name, _active())

    info = _eventually(lambda: _kubectl_as(kubectl, user.kubeconfig, "auth", "whoami", "-o", "json").returncode == 0)
    assert info, "the webhook never authenticated the token"
    identity = _whoami(kubectl, user.kubeconfig)
    assert identity["username"] == user.username
    assert {"k3s-daas:stakers", "k3s-daas:role:user"} <= set(identity["groups"])
    # Our answer carries no system: name; the API server adds system:authenticated itself.
    assert [group for group in identity["groups"] if group.startswith("system:")] == ["system:authenticated"]
    assert identity["extra"]["k3s-daas.io/seal-token"] == [user.token_object]
    assert identity["extra"]["k3s-daas.io/stake-mist"] == ["600000000"]

    # Authenticated is not authorized: Forbidden until a binding exists, then allowed.
    denied = _kubectl_as(kubectl, user.kubeconfig, "get", "configmaps", "-n", "default")
    assert denied.returncode != 0 and "Forbidden" in denied.stderr and user.username in denied.stderr
    binding = f"{user.name}-view"
    kubectl("create", "rolebinding", binding, "-n", "default", "--clusterrole=view", f"--user={user.username}")
    try:
        allowed = _eventually(
            lambda: _kubectl_as(kubectl, user.kubeconfig, "get", "configmaps", "-n", "default").returncode == 0
        )
        assert allowed
    finally:
        kubectl("delete", "rolebinding", binding, "-n", "default")


def test_bad_expired_and_revoked_tokens_are_unauthorized(webhook, control_plane, kubectl, tmp_path) -> None:
    user = User(SignatureScheme.ED25519, tmp_path, control_plane)
    user.name += "-revoke"
    user.token_object = _object_id(user.name)
    _create_sealtoken(kubectl, user)
    _write_status(kubectl, "sealtoken", user.name, _active())
    assert _eventually(lambda: _kubectl_as(kubectl, user.kubeconfig, "auth", "whoami").returncode == 0)

    now = int(time.time())
    cases = {
        "garbage": "k3s-daas-v1.bm90.YQ.c2ln",
        "forged": sign(user.key, api_claims(user.key.address, CLUSTER_ID, now, 600))[:-8] + "AAAAAAAA",
        "expired": sign(user.key, api_claims(user.key.address, CLUSTER_ID, now - 2000, 600)),
        "other cluster": sign(user.key, api_claims(user.key.address, "another-cluster", now, 600)),
    }
    for label, token in cases.items():
        kubeconfig = _static_token_kubeconfig(user.kubeconfig, token, tmp_path / f"{label}.kubeconfig")
        result = _kubectl_as(kubectl, kubeconfig, "auth", "whoami")
        assert result.returncode != 0 and "Unauthorized" in result.stderr, (label, result.stderr)

    # Revocation on chain -> the operator writes phase Revoked -> the next token is refused.
    _write_status(kubectl, "sealtoken", user.name, {**_active(), "phase": "Revoked"})
    refused = _eventually(
        lambda: "Unauthorized" in _kubectl_as(kubectl, user.kubeconfig, "auth", "whoami").stderr, timeout=20
    )
    assert refused, "a revoked SealToken still authenticated"
    # Stake below the minimum is refused too.
    _write_status(kubectl, "sealtoken", user.name, _active(stake_mist=100))
    assert _eventually(lambda: "Unauthorized" in _kubectl_as(kubectl, user.kubeconfig, "auth", "whoami").stderr)
    _, _, metrics = call(webhook.port, webhook.ca_file, "GET", "/metrics")
    text = metrics.decode()
    for reason in ("bad_signature", "expired", "wrong_audience", "revoked", "insufficient_stake"):
        assert f'k3s_daas_authn_denials_total{{reason="{reason}"}}' in text, reason


def _bootstrap_secret(kubectl, staked_node: str, token_id: str, token_secret: str) -> str:
    name = f"bootstrap-token-{token_id}"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "bootstrap.kubernetes.io/token",
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k3s-daas.io/staked-node": staked_node}},
        "stringData": {
            "token-id": token_id,
            "token-secret": token_secret,
            "expiration": rfc3339(time.time() + 3600),
            "usage-bootstrap-authentication": "true",
            "auth-extra-groups": "system:bootstrappers:k3s:default-node-token",
            "description": f"k3s-daas join token for {staked_node}",
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(secret))
    return name


def _staked_node(kubectl, name: str, node_name: str, owner: str) -> None:
    manifest = {
        "apiVersion": "k3s-daas.io/v1alpha1",
        "kind": "StakedNode",
        "metadata": {"name": name},
        "spec": {"nodeName": node_name, "owner": owner, "stakeRecord": _object_id(name)},
    }
    kubectl("apply", "-f", "-", input=json.dumps(manifest))


def test_join_returns_the_bootstrap_token_once(webhook, control_plane, kubectl, tmp_path) -> None:
    owner = Keypair.generate(SignatureScheme.SECP256K1)
    keystore = tmp_path / "owner.keystore"
    write_keystore(keystore, [owner])
    node_name = f"worker-{TEST_RUN}"
    staked = f"node-{TEST_RUN}"
    token_id = hashlib.sha256(TEST_RUN.encode()).hexdigest()[:6]
    token_secret = hashlib.sha256(b"secret" + TEST_RUN.encode()).hexdigest()[:16]
    _staked_node(kubectl, staked, node_name, owner.address)
    secret = _bootstrap_secret(kubectl, staked, token_id, token_secret)

    join = [
        "join",
        "--url",
        webhook.url,
        "--ca",
        str(webhook.ca_file),
        "--keystore",
        str(keystore),
        "--address",
        owner.address,
        "--node-name",
        node_name,
    ]
    # Not Active yet (no status): refused with the reason.
    pending = _cli(*join, "--token-only", check=False)
    assert pending.returncode == 1 and "node_not_active" in pending.stderr

    _write_status(kubectl, "stakednode", staked, {"phase": "Active", "bootstrapTokenSecret": secret})
    token = _cli(*join, "--token-only").stdout.strip()
    ca_hash = hashlib.sha256(control_plane.ca_file.read_bytes()).hexdigest()
    assert token == f"K10{ca_hash}::{token_id}.{token_secret}"
    command = _cli(*join).stdout.strip()
    assert command == f"k3s agent --server {control_plane.server} --token {token} --node-name {node_name}"

    # The same signed request twice: the second is a replay.
    request = sign(owner, join_claims(owner.address, CLUSTER_ID, node_name, int(time.time()), 60))
    body = {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "JoinRequest", "request": request}
    assert call(webhook.port, webhook.ca_file, "POST", "/join", body)[0] == 200
    status, _, answer = call(webhook.port, webhook.ca_file, "POST", "/join", body)
    assert (status, answer["reason"]) == (409, "replayed")

    # Another owner's key, for this node: refused.
    stranger = Keypair.generate(SignatureScheme.ED25519)
    stranger_keystore = tmp_path / "stranger.keystore"
    write_keystore(stranger_keystore, [stranger])
    foreign = _cli(
        "join", "--url", webhook.url, "--ca", str(webhook.ca_file), "--keystore", str(stranger_keystore),
        "--node-name", node_name, check=False,
    )  # fmt: skip
    assert foreign.returncode == 1 and "foreign_node" in foreign.stderr
    assert token_secret not in foreign.stderr

    # Slashed: the node may no longer join.
    _write_status(kubectl, "stakednode", staked, {"phase": "Slashed"})
    slashed = _cli(*join, check=False)
    assert slashed.returncode == 1 and "Slashed" in slashed.stderr
