"""Security cases on the whole stack as `k3s-daas up` runs it (localnet, a real control plane with a
2 s token-webhook cache TTL, the webhook and the operator as their ServiceAccounts, admission):

* a revoked token still in the API server's cache: writes are refused by admission at once, the
  identity lasts at most TTL + the API server's fixed 10 s success cache (measured, printed);
* a SealToken whose spec claims someone else's on-chain object grants nothing;
* a StakedNode created by a user is refused (RBAC, and admission when RBAC is widened);
* last: no secret used anywhere in this module (Seal tokens, the bootstrap token and its secret,
  private keys in hex, base64 and bech32, ServiceAccount tokens) appears in any component's log, any
  Event, any /metrics exposition or any SealToken/StakedNode (spec and status) after a full journey.

Tests run in file order; the secret scan does its own full journey, so it also stands alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from k3s_daas import up
from k3s_daas.controlplane.kubeconfig import token_kubeconfig, write_kubeconfig
from k3s_daas.sealtoken import api_claims, join_claims, sign
from k3s_daas.settings import Settings
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas.sui.keystore import encode_suiprivkey, write_keystore

pytestmark = pytest.mark.cluster

CLI = str(Path(sys.executable).with_name("k3s-daas"))
CACHE_TTL_S = 2.0
APISERVER_SUCCESS_CACHE_S = 10.0  # kube-apiserver's fixed outer token cache (docs/threat-model.md)
SUI = 1_000_000_000


@dataclass
class Secrets:
    """Every secret this module hands to the stack, to look for afterwards."""

    values: set[str] = field(default_factory=set)

    def key(self, key: Keypair) -> None:
        secret = key.secret_bytes()
        self.values |= {
            secret.hex(),
            base64.b64encode(bytes([key.scheme]) + secret).decode(),  # the Sui keystore's form
            base64.b64encode(secret).decode(),
            encode_suiprivkey(key),
        }

    def token(self, token: str) -> str:
        self.values.add(token)
        self.values.add(token.rsplit(".", 1)[1])  # the signature segment alone
        return token


@dataclass
class Journey:
    stack: up.Stack
    state_dir: Path
    work: Path
    secrets: Secrets
    env: dict[str, str]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, env=self.env, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"k3s-daas {' '.join(args[:3])} failed: {result.stderr}")
        return result

    def kubectl(self, *args: str, kubeconfig: Path | None = None, input: str | None = None, check: bool = True):
        config = kubeconfig or self.stack.cluster.admin_kubeconfig
        result = subprocess.run(
            [str(self.stack.cluster.kubectl), f"--kubeconfig={config}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args[:3])} failed: {result.stderr}")
        return result

    def new_key(self, name: str, scheme: SignatureScheme = SignatureScheme.ED25519) -> tuple[Keypair, Path]:
        key = Keypair.generate(scheme)
        keystore = self.work / f"{name}.keystore"
        write_keystore(keystore, [key])
        self.secrets.key(key)
        return key, keystore

    def stake(self, key: Keypair, keystore: Path, role: str, mist: int, node: str = "") -> str:
        args = ["localnet", "stake", "--keystore", str(keystore), "--address", key.address, "--role", role,
                "--amount-mist", str(mist)] + (["--node-name", node] if node else [])  # fmt: skip
        return created(json.loads(self.cli(*args).stdout), "::staking::StakeRecord")

    def issue(self, key: Keypair, keystore: Path, record: str, *permissions: str) -> str:
        args = ["localnet", "issue-token", "--keystore", str(keystore), "--address", key.address,
                "--stake-record", record, "--expires-in-ms", "86400000"]  # fmt: skip
        for permission in permissions:
            args += ["--permission", permission]
        return created(json.loads(self.cli(*args).stdout), "::k8s_gateway::SealToken")

    def api_token(self, key: Keypair, lifetime_s: int = 600) -> str:
        return self.secrets.token(
            sign(key, api_claims(key.address, self.stack.cluster_id, int(time.time()), lifetime_s))
        )

    def as_token(self, token: str, name: str) -> Path:
        path = self.work / f"{name}.kubeconfig"
        cluster = self.stack.cluster
        write_kubeconfig(path, token_kubeconfig(cluster.server, cluster.ca_file.read_bytes(), token, name))
        return path

    def wait_phase(self, kind: str, name: str, phase: str, timeout: str = "90s") -> None:
        self.kubectl("wait", f"--for=jsonpath={{.status.phase}}={phase}", f"{kind}/{name}", f"--timeout={timeout}")

    def staked_user(self, name: str, *permissions: str, mist: int = SUI // 2) -> tuple[Keypair, Path, str, Path]:
        """A key with an Active SealToken (created by the operator from the chain event)."""
        key, keystore = self.new_key(name)
        record = self.stake(key, keystore, "user", mist)
        token_object = self.issue(key, keystore, record, *permissions)
        resource = f"seal-{token_object[2:42]}"
        self.kubectl("wait", "--for=create", f"sealtoken/{resource}", "--timeout=60s")
        self.wait_phase("sealtoken", resource, "Active")
        return key, keystore, token_object, self.as_token(self.api_token(key), name)


def created(report: dict[str, Any], suffix: str) -> str:
    return next(c["objectId"] for c in report["objectChanges"] if c["objectType"].endswith(suffix))


def until(what: str, check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


@pytest.fixture(scope="module")
def journey(control_plane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    """The stack of `k3s-daas up` (start_stack itself), with a 2 s token-webhook cache TTL and every
    component logging at DEBUG, so the secret scan sees everything they can write."""
    state_dir = tmp_path_factory.mktemp("security-stack")
    work = tmp_path_factory.mktemp("security-work")
    saved = os.environ.get("K3S_DAAS_LOG_LEVEL")
    os.environ["K3S_DAAS_LOG_LEVEL"] = "DEBUG"  # inherited by the processes start_stack spawns
    try:
        with contextlib.ExitStack() as exits:
            stack = up.start_stack(Settings.from_env(os.environ), state_dir, 0, exits, cache_ttl=f"{CACHE_TTL_S:g}s")
            secrets = Secrets()
            secrets.key(stack.admin)
            for identity in (state_dir / "identities").glob("*.kubeconfig"):
                secrets.values.add(yaml.safe_load(identity.read_text())["users"][0]["user"]["token"])
            env = {**os.environ, "K3S_DAAS_CHAIN_URL": stack.chain_url, "K3S_DAAS_CLUSTER_ID": stack.cluster_id}
            yield Journey(stack, state_dir, work, secrets, env)
    finally:
        if saved is None:
            os.environ.pop("K3S_DAAS_LOG_LEVEL", None)
        else:
            os.environ["K3S_DAAS_LOG_LEVEL"] = saved


# ---- a revoked token still in the API server's cache ----------------------------------------------


def test_revoked_token_writes_are_denied_at_once_and_the_cached_identity_expires(journey: Journey) -> None:
    key, keystore, token_object, kubeconfig = journey.staked_user("revoked", "pods:read", "configmaps:write")
    resource = f"seal-{token_object[2:42]}"
    assert journey.kubectl("auth", "whoami", kubeconfig=kubeconfig).returncode == 0  # answer now cached
    assert journey.kubectl("create", "configmap", "before-revoke", kubeconfig=kubeconfig).returncode == 0

    revoked_at = time.monotonic()
    journey.cli("localnet", "revoke-token", "--keystore", str(keystore), "--address", key.address,
                "--token", token_object)  # fmt: skip
    attempt = iter(range(10_000))

    def write_refused() -> subprocess.CompletedProcess[str] | None:
        result = journey.kubectl("create", "configmap", f"after-{next(attempt)}", kubeconfig=kubeconfig, check=False)
        return result if result.returncode != 0 else None

    refused = until("a refused write", write_refused, timeout=30, interval=0.05)
    write_denied_s = time.monotonic() - revoked_at
    assert "Revoked" in journey.kubectl("get", "sealtoken", resource, "-o", "jsonpath={.status.phase}").stdout
    # Refused by admission (or by RBAC, the binding being gone), never by a failing authentication.
    assert "Unauthorized" not in refused.stderr, refused.stderr
    status_seen_s = time.monotonic() - revoked_at

    def identity_gone() -> bool:
        result = journey.kubectl("auth", "whoami", kubeconfig=kubeconfig, check=False)
        return result.returncode != 0 and "Unauthorized" in result.stderr

    identity_still_cached = journey.kubectl("auth", "whoami", kubeconfig=kubeconfig, check=False).returncode == 0
    until("the cached identity to expire", identity_gone, timeout=CACHE_TTL_S + APISERVER_SUCCESS_CACHE_S + 30)
    identity_gone_s = time.monotonic() - revoked_at
    print(
        f"\nrevocation window (TTL {CACHE_TTL_S:g} s): write refused after {write_denied_s:.2f} s, "
        f"identity still served from cache after the refusal: {identity_still_cached}, "
        f"identity gone after {identity_gone_s:.2f} s"
    )
    # The documented bound: operator (event poll + status) then TTL + the fixed success cache.
    assert identity_gone_s <= status_seen_s + CACHE_TTL_S + APISERVER_SUCCESS_CACHE_S + 5
    reads = journey.kubectl("get", "pods", kubeconfig=kubeconfig, check=False)
    assert reads.returncode != 0 and "Unauthorized" in reads.stderr


# ---- a SealToken spec claiming someone else's object ----------------------------------------------


def test_sealtoken_claiming_another_owners_object_grants_nothing(journey: Journey) -> None:
    bob, bob_keystore = journey.new_key("bob-victim", SignatureScheme.SECP256K1)
    bob_record = journey.stake(bob, bob_keystore, "user", SUI)
    bob_object = journey.issue(bob, bob_keystore, bob_record, "configmaps:write", "pods:read")
    mallory, _keystore, _object, mallory_config = journey.staked_user("mallory-object", "pods:read")

    # Naming bob as the owner: refused by admission (self-service is for one's own address).
    theirs = {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "SealToken", "metadata": {"name": "stolen-owner"},
              "spec": {"owner": bob.address, "tokenObject": bob_object}}  # fmt: skip
    refused = journey.kubectl("apply", "-f", "-", kubeconfig=mallory_config, input=json.dumps(theirs), check=False)
    assert refused.returncode != 0
    assert f"may only write SealTokens for its own address, not for {bob.address}" in refused.stderr

    # Naming herself as the owner of bob's object: admitted, but the chain says bob owns it.
    mine = {
        **theirs,
        "metadata": {"name": "stolen-object"},
        "spec": {"owner": mallory.address, "tokenObject": bob_object},
    }
    assert journey.kubectl("apply", "-f", "-", kubeconfig=mallory_config, input=json.dumps(mine)).returncode == 0
    journey.wait_phase("sealtoken", "stolen-object", "NotFound")
    status = json.loads(journey.kubectl("get", "sealtoken", "stolen-object", "-o", "json").stdout)["status"]
    assert "permissions" not in status or not status["permissions"], status
    bindings = journey.kubectl("get", "clusterrolebinding", "-o", "name").stdout
    assert "k3s-daas:sealtoken:stolen-object" not in bindings
    write = journey.kubectl("create", "configmap", "mallory-write", kubeconfig=mallory_config, check=False)
    assert write.returncode != 0 and "configmaps" in write.stderr, write.stderr


# ---- a StakedNode created by a user ----------------------------------------------------------------


def test_stakednode_created_by_a_user_is_refused(journey: Journey) -> None:
    eve, _keystore, _object, eve_config = journey.staked_user(
        "eve-node", "pods:read", "stakednodes.k3s-daas.io:write", mist=SUI
    )
    node = {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "StakedNode", "metadata": {"name": "forged-node"},
            "spec": {"nodeName": "forged-node", "owner": eve.address, "stakeRecord": "0x" + "77" * 32}}  # fmt: skip
    # The on-chain permission is not granted to a user token (k3s_daas.grants): RBAC refuses.
    first = journey.kubectl("create", "-f", "-", kubeconfig=eve_config, input=json.dumps(node), check=False)
    assert first.returncode != 0 and "forbidden" in first.stderr.lower(), first.stderr

    # An admin widens RBAC by mistake: admission still refuses.
    journey.kubectl("create", "clusterrole", "security-forge-stakednodes", "--verb=create,update,patch",
                    "--resource=stakednodes.k3s-daas.io,stakednodes.k3s-daas.io/status")  # fmt: skip
    journey.kubectl("create", "clusterrolebinding", "security-forge-stakednodes",
                    "--clusterrole=security-forge-stakednodes", f"--user=sui:{eve.address}")  # fmt: skip
    try:

        def refused_by_admission() -> subprocess.CompletedProcess[str] | None:
            result = journey.kubectl("create", "-f", "-", kubeconfig=eve_config, input=json.dumps(node), check=False)
            assert result.returncode != 0, "a user created a StakedNode"
            return result if "admission webhook" in result.stderr else None

        result = until("RBAC to allow and admission to refuse", refused_by_admission, timeout=30)
        assert "StakedNodes mirror on-chain node stakes" in result.stderr
        assert journey.kubectl("get", "stakednode", "forged-node", check=False).returncode != 0
    finally:
        journey.kubectl("delete", "clusterrolebinding,clusterrole", "security-forge-stakednodes", "--ignore-not-found")


# ---- no secret in logs, Events, metrics, status ------------------------------------------------------


def _full_journey(journey: Journey) -> str:
    """The README's two journeys (user and node), plus the refusals an attacker causes, all logged."""
    alice, alice_keystore, alice_object, alice_config = journey.staked_user("alice-scan", "pods:read")
    assert journey.kubectl("auth", "whoami", kubeconfig=alice_config).returncode == 0
    assert journey.kubectl("get", "pods", "-A", kubeconfig=alice_config).returncode == 0
    assert journey.kubectl("create", "configmap", "x", kubeconfig=alice_config, check=False).returncode != 0
    # The exec plugin, as kubectl runs it.
    plugin = journey.work / "alice-plugin.kubeconfig"
    journey.cli("kubeconfig", "--server", journey.stack.cluster.server, "--ca", str(journey.stack.cluster.ca_file),
                "--cluster-id", journey.stack.cluster_id, "--keystore", str(alice_keystore), "--address",
                alice.address, "--exec-command", CLI, "--output", str(plugin))  # fmt: skip
    assert journey.kubectl("auth", "whoami", kubeconfig=plugin).returncode == 0
    printed = journey.cli("token", "--cluster-id", journey.stack.cluster_id, "--keystore", str(alice_keystore),
                          "--address", alice.address, "--token-only").stdout.strip()  # fmt: skip
    journey.secrets.token(printed)
    # Refused tokens: tampered, expired, for another cluster, signed by another key.
    stranger = Keypair.generate(SignatureScheme.SECP256R1)
    journey.secrets.key(stranger)
    now = int(time.time())
    bad = [
        printed[:-6] + "AAAAAA",
        sign(alice, api_claims(alice.address, journey.stack.cluster_id, now - 4000, 600)),
        sign(alice, api_claims(alice.address, "another-cluster", now, 600)),
        sign(stranger, api_claims(alice.address, journey.stack.cluster_id, now, 600)),
    ]
    for token in bad:
        journey.secrets.token(token)
        result = journey.kubectl("get", "pods", kubeconfig=journey.as_token(token, "bad"), check=False)
        assert result.returncode != 0
    journey.cli("localnet", "revoke-token", "--keystore", str(alice_keystore), "--address", alice.address,
                "--token", alice_object)  # fmt: skip
    journey.wait_phase("sealtoken", f"seal-{alice_object[2:42]}", "Revoked")

    # The node journey: stake, join (and a replay), slash.
    bob, bob_keystore = journey.new_key("bob-node", SignatureScheme.SECP256K1)
    record = journey.stake(bob, bob_keystore, "node", SUI, node="worker-scan")
    resource = f"worker-scan-{record[2:18]}"
    journey.kubectl("wait", "--for=create", f"stakednode/{resource}", "--timeout=60s")
    journey.wait_phase("stakednode", resource, "Active")
    webhook = journey.stack.webhook

    def joined() -> str | None:
        result = journey.cli(
            *("join", "--url", webhook.url, "--ca", str(webhook.ca_file), "--keystore", str(bob_keystore)),
            *("--address", bob.address, "--node-name", "worker-scan"),
            check=False,
        )
        match = re.search(r"--token (K10[0-9a-f]{64}::([a-z0-9]{6})\.([a-z0-9]{16}))", result.stdout)
        return match if result.returncode == 0 and match else None

    match = until("a join token (the operator mints it after Active)", joined, timeout=60, interval=1)
    k10, token_id, token_secret = match.groups()
    journey.secrets.values |= {k10, f"{token_id}.{token_secret}", token_secret}
    request = journey.secrets.token(
        sign(bob, join_claims(bob.address, journey.stack.cluster_id, "worker-scan", int(time.time()), 120))
    )
    body = json.dumps({"apiVersion": "k3s-daas.io/v1alpha1", "kind": "JoinRequest", "request": request}).encode()
    context = ssl.create_default_context(cafile=str(webhook.ca_file))
    for _ in range(2):  # once accepted, once replayed
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(
                urllib.request.Request(f"{webhook.url}/join", data=body), context=context, timeout=30
            )
    journey.cli("localnet", "slash", "--keystore", str(journey.stack.admin_keystore), "--address",
                journey.stack.admin.address, "--stake-record", record, "--amount-mist", str(SUI // 2),
                "--reason", "double signing")  # fmt: skip
    journey.wait_phase("stakednode", resource, "Slashed")
    return token_id


def _operator_metrics_url(journey: Journey) -> str:
    for process in journey.stack.processes:
        if process.name == "operator":
            argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
            port = next(arg.split(b"=", 1)[1] for arg in argv if arg.startswith(b"--metrics-port="))
            return f"http://127.0.0.1:{int(port)}/metrics"
    raise AssertionError("no operator process in the stack")


def _everything_written(journey: Journey) -> dict[str, str]:
    """Where a secret must never be: source name -> text."""
    sources: dict[str, str] = {}
    for log in sorted(journey.state_dir.rglob("*.log")):
        sources[f"log {log.relative_to(journey.state_dir)}"] = log.read_text(errors="replace")
    sources["events"] = journey.kubectl("get", "events", "-A", "-o", "json").stdout
    for kind in ("sealtokens", "stakednodes"):
        sources[f"{kind} (spec and status)"] = journey.kubectl("get", kind, "-o", "json").stdout
    webhook = journey.stack.webhook
    context = ssl.create_default_context(cafile=str(webhook.ca_file))
    with urllib.request.urlopen(f"{webhook.url}/metrics", context=context, timeout=30) as response:
        sources["webhook /metrics"] = response.read().decode()
    with urllib.request.urlopen(_operator_metrics_url(journey), timeout=30) as response:
        sources["operator /metrics"] = response.read().decode()
    sources["kube-apiserver /metrics"] = journey.kubectl("get", "--raw", "/metrics").stdout
    return sources


SECRET_SHAPES = {
    "a Seal token": re.compile(r"k3s-daas-v1\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{40,}"),
    "a K10 join token": re.compile(r"K10[0-9a-f]{64}::"),
    "a bech32 Sui private key": re.compile(r"suiprivkey1[02-9ac-hj-np-z]{20,}"),
    "a PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}


def test_no_secret_reaches_logs_events_metrics_or_status(journey: Journey) -> None:
    token_id = _full_journey(journey)
    time.sleep(2)  # let the last log lines and Events land
    sources = _everything_written(journey)
    assert sum(len(text) for text in sources.values()) > 100_000, "suspiciously little was collected"
    assert any("TokenReview denied" in text for text in sources.values()), "denials were not logged at all"
    # The public half of the bootstrap token (the Secret's name) is where the scan looks: it must find it.
    assert any(f"bootstrap-token-{token_id}" in text for text in sources.values()), "the scan reads the wrong places"
    secrets = {secret for secret in journey.secrets.values if len(secret) >= 12}
    assert len(secrets) >= 30, len(secrets)
    leaks = [f"{where}: {secret[:10]}..." for where, text in sources.items() for secret in secrets if secret in text]
    leaks += [
        f"{where}: {shape}" for where, text in sources.items() for shape, pattern in SECRET_SHAPES.items()
        if pattern.search(text)
    ]  # fmt: skip
    print(f"\nsecret scan: {len(secrets)} secrets, {len(sources)} sources, "
          f"{sum(len(t) for t in sources.values())} characters")  # fmt: skip
    assert not leaks, "\n".join(leaks)
