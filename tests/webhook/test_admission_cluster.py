"""Admission on the real control plane: the ValidatingWebhookConfiguration of manifests/ (rendered for
the test's webhook) and the node-guard ValidatingAdmissionPolicy, with localnet, the real operator
(its ServiceAccount, manifests/10-) and the webhook (its ServiceAccount, manifests/30-).

kubectl runs as Seal users (role user and role admin) through the exec plugin, as node identities
(client certificates system:node:<name>) and as the client-certificate admin (break-glass).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from k3s_daas.controlplane import cluster, pki
from k3s_daas.controlplane.kubeconfig import client_certificate_kubeconfig, token_kubeconfig, write_kubeconfig
from k3s_daas.controlplane.processes import ManagedProcess, free_loopback_port, spawn, stop, wait_until_ready
from k3s_daas.controlplane.webhook_wiring import (
    ADMISSION_MANIFEST,
    WebhookEndpoint,
    load_yaml_documents,
    render_admission_webhooks,
)
from k3s_daas.localnet.store import Store
from k3s_daas.sealtoken import api_claims, sign
from k3s_daas.sui import Keypair, SignatureScheme
from k3s_daas.sui.keystore import write_keystore

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "operator"))
from operator_testing import (  # noqa: E402
    SUI,
    Chain,
    OperatorProcess,
    get_json,
    operator_command,
    operator_env,
    running_chain,
    wait_for,
)

pytestmark = pytest.mark.cluster

CLI = str(Path(sys.executable).with_name("k3s-daas"))
CLUSTER_ID = "admission-cluster-test"
RUN = format(int(time.time() * 1000) % 10**8, "x")  # names stay unique across sessions on one cluster
NAMESPACE = f"adm-{RUN}"
MANIFESTS = REPO / "manifests"
STAKE_DENIED = "stake 0.3 SUI is below the 0.5 SUI required to write; top up stake record "


# ---- the stack -----------------------------------------------------------------------------------


def _service_account_kubeconfig(kubectl, control_plane, account: str, path: Path) -> Path:
    token = kubectl("create", "token", account, "-n", "k3s-daas", "--duration=2h").stdout.strip()
    ca = control_plane.ca_file.read_bytes()
    write_kubeconfig(path, token_kubeconfig(control_plane.server, ca, token, account))
    return path


@pytest.fixture(scope="module")
def installed(control_plane: cluster.RunningCluster, kubectl) -> None:
    kubectl("apply", "-f", str(REPO / "crds"))
    for crd in ("sealtokens.k3s-daas.io", "stakednodes.k3s-daas.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    for name in (
        "00-namespace.yaml",
        "10-operator-rbac.yaml",
        "15-leases-rbac.yaml",
        "30-webhook-rbac.yaml",
        "35-stakers-rbac.yaml",
    ):
        kubectl("apply", "-f", str(MANIFESTS / "base" / name))
    kubectl("create", "namespace", NAMESPACE)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with running_chain(Store(tmp_path_factory.mktemp("localnet") / "chain.sqlite3")) as running:
        yield running


@pytest.fixture(scope="module")
def operator(control_plane, kubectl, installed, chain: Chain, tmp_path_factory) -> Iterator[OperatorProcess]:
    """The real operator, as its ServiceAccount (the identity admission lets write status)."""
    directory = tmp_path_factory.mktemp("operator")
    kubeconfig = _service_account_kubeconfig(kubectl, control_plane, "k3s-daas-operator", directory / "kubeconfig")
    port = free_loopback_port()
    argv = operator_command(kubeconfig, port, "--verify-interval=5", "--drain-deadline=20")
    process = OperatorProcess(argv, operator_env(chain, "k3s-daas"), directory / "operator.log", port).start()
    try:
        yield process
    finally:
        process.stop()


class WebhookServer:
    """`k3s-daas webhook serve` as its ServiceAccount, on the port the API server is wired to."""

    def __init__(self, endpoint: WebhookEndpoint, kubeconfig: Path, ca_file: Path, log: Path) -> None:
        self.endpoint = endpoint
        self.argv = [
            CLI, "webhook", "serve", "--port", str(endpoint.port), "--cert-file", str(endpoint.cert_file),
            "--key-file", str(endpoint.key_file), "--cluster-id", CLUSTER_ID, "--kubeconfig", str(kubeconfig),
            "--cluster-ca-file", str(ca_file), "--shutdown-grace", "0.2",
        ]  # fmt: skip
        self.kubeconfig = kubeconfig
        self.log = log
        self.process: ManagedProcess | None = None

    def start(self) -> WebhookServer:
        self.process = spawn("webhook", self.argv, self.log, str(self.kubeconfig), tie_to_parent=True)
        context = ssl.create_default_context(cafile=str(self.endpoint.ca_file))
        wait_until_ready(self.process, f"{self.endpoint.url}/readyz", context, self.log, time.monotonic() + 60)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop([self.process])
            self.process = None


@pytest.fixture(scope="module")
def webhook(control_plane, kubectl, installed, webhook_endpoint: WebhookEndpoint, tmp_path_factory):
    directory = tmp_path_factory.mktemp("admission-webhook")
    kubeconfig = _service_account_kubeconfig(kubectl, control_plane, "k3s-daas-webhook", directory / "kubeconfig")
    server = WebhookServer(webhook_endpoint, kubeconfig, control_plane.ca_file, directory / "webhook.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admission(kubectl, webhook: WebhookServer, operator: OperatorProcess, webhook_endpoint: WebhookEndpoint):
    """manifests/40- rendered for this webhook, and manifests/41-, applied; removed at the end so the
    rest of the session runs without them."""
    (template,) = load_yaml_documents(MANIFESTS / ADMISSION_MANIFEST)
    rendered = render_admission_webhooks(template, webhook_endpoint.url, webhook_endpoint.ca_file.read_bytes())
    kubectl("apply", "-f", "-", input=json.dumps(rendered))
    kubectl("apply", "-f", str(MANIFESTS / "41-node-guard-policy.yaml"))  # the webhook fills in its node list
    try:
        yield rendered
    finally:
        kubectl("delete", "validatingwebhookconfiguration", "k3s-daas", "--ignore-not-found")
        kubectl("delete", "-f", str(MANIFESTS / "41-node-guard-policy.yaml"), "--ignore-not-found")
        kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")


# ---- actors --------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"k3s-daas {' '.join(args)} failed: {result.stderr}"
    return result


def _run(kubectl, kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl.binary), f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class SealUser:
    key: Keypair
    record: str
    token: str
    resource: str
    kubeconfig: Path

    @property
    def username(self) -> str:
        return f"sui:{self.key.address}"

    def kubectl(self, kubectl, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(kubectl, self.kubeconfig, *args, input=input)


def _sealtoken(name: str, owner: str, token: str) -> str:
    return json.dumps(
        {
            "apiVersion": "k3s-daas.io/v1alpha1",
            "kind": "SealToken",
            "metadata": {"name": name},
            "spec": {"owner": owner, "tokenObject": token},
        }
    )


def _phase(kubectl, kind: str, name: str) -> str | None:
    return ((get_json(kubectl, kind, name) or {}).get("status") or {}).get("phase")


def seal_user(
    kubectl, control_plane, chain: Chain, directory: Path, label: str, role: int, stake: int, permissions: list[str]
) -> SealUser:
    """Stake and issue on chain, the SealToken resource (created by the admin), Active by the operator,
    and a kubeconfig whose user runs `k3s-daas token` with the key."""
    key = Keypair.generate(SignatureScheme.ED25519)
    record = chain.stake(key, role, stake)
    token = chain.issue(key, record, permissions)
    resource = f"adm-{RUN}-{label}"
    kubectl("apply", "-f", "-", input=_sealtoken(resource, key.address, token))
    wait_for(f"SealToken {resource} Active", lambda: _phase(kubectl, "sealtoken", resource) == "Active")
    keystore = directory / f"{label}.keystore"
    write_keystore(keystore, [key])
    kubeconfig = directory / f"{label}.kubeconfig"
    _cli(
        "kubeconfig", "--server", control_plane.server, "--ca", str(control_plane.ca_file), "--cluster-id",
        CLUSTER_ID, "--keystore", str(keystore), "--address", key.address, "--exec-command", CLI, "--output",
        str(kubeconfig),
    )  # fmt: skip
    return SealUser(key, record, token, resource, kubeconfig)


@pytest.fixture(scope="module")
def alice(kubectl, control_plane, chain, admission, tmp_path_factory) -> SealUser:
    """A user stake of 0.6 SUI whose token holds configmaps:write and pods:read."""
    directory = tmp_path_factory.mktemp("alice")
    return seal_user(
        kubectl, control_plane, chain, directory, "alice", 0, 6 * SUI // 10, ["configmaps:write", "pods:read"]
    )


@pytest.fixture(scope="module")
def root(kubectl, control_plane, chain, admission, tmp_path_factory) -> SealUser:
    """An admin stake of 10 SUI holding every permission."""
    return seal_user(kubectl, control_plane, chain, tmp_path_factory.mktemp("root"), "root", 2, 10 * SUI, ["*:*"])


def _node_kubeconfig(control_plane: cluster.RunningCluster, node: str, path: Path) -> Path:
    """A kubelet's credentials: a client certificate system:node:<node> in system:nodes."""
    pem = control_plane.state_dir / "pki"
    ca = pki.KeyAndCert((pem / "ca.key").read_bytes(), (pem / "ca.crt").read_bytes())
    credential = pki.issue(ca, f"system:node:{node}", organization="system:nodes", client=True)
    write_kubeconfig(path, client_certificate_kubeconfig(control_plane.server, ca.cert_pem, credential, node))
    return path


def _node(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


def _staked_node(kubectl, chain: Chain, owner: Keypair, node: str) -> str:
    """A node stake of 1 SUI and its StakedNode (created by the admin), Active by the operator."""
    record = chain.stake(owner, 1, SUI, node)
    manifest = {
        "apiVersion": "k3s-daas.io/v1alpha1",
        "kind": "StakedNode",
        "metadata": {"name": node},
        "spec": {"nodeName": node, "owner": owner.address, "stakeRecord": record},
    }
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    wait_for(f"StakedNode {node} Active", lambda: _phase(kubectl, "stakednode", node) == "Active")
    return record


def _allowlisted(kubectl, node: str) -> bool:
    """Is ``node`` in the node guard policy's list (the CEL list the webhook writes)?"""
    policy = get_json(kubectl, "validatingadmissionpolicy", "k3s-daas-node-guard") or {"spec": {"variables": []}}
    admitted = [v["expression"] for v in policy["spec"]["variables"] if v["name"] == "admitted"]
    return bool(admitted) and f"'{node}'" in admitted[0]


# ---- the tests -----------------------------------------------------------------------------------


def test_staked_user_writes_in_scope_and_is_denied_outside_it(kubectl, alice: SealUser) -> None:
    created = alice.kubectl(kubectl, "create", "configmap", "in-scope", "-n", NAMESPACE, "--from-literal=a=b")
    assert created.returncode == 0, created.stderr
    # RBAC alone would allow more: an admin binds `edit` in the namespace. Admission still holds the
    # user to what the Seal token grants.
    kubectl("create", "rolebinding", "alice-edit", "-n", NAMESPACE, "--clusterrole=edit", f"--user={alice.username}")
    deployment = ("create", "deployment", "web", "--image=registry.example/web:1", "-n", NAMESPACE)
    denied = wait_for("RBAC allows it", lambda: _refused_by_admission(alice.kubectl(kubectl, *deployment)))
    assert 'admission webhook "stake.admission.k3s-daas.io" denied the request' in denied.stderr, denied.stderr
    assert f'{alice.username} may not create deployments.apps in namespace "{NAMESPACE}"' in denied.stderr
    assert 'no Active Seal token grants "deployments.apps:create"' in denied.stderr
    assert "its tokens grant: configmaps:write, pods:read" in denied.stderr
    # Patch and delete map to their own verbs, granted by configmaps:write.
    patched = alice.kubectl(kubectl, "label", "configmap", "in-scope", "-n", NAMESPACE, "x=y")
    assert patched.returncode == 0, patched.stderr
    # The project's namespace is for admins: a user grant that reaches it through a ClusterRole is refused.
    project = alice.kubectl(kubectl, "create", "configmap", "sneaky", "-n", "k3s-daas")
    assert project.returncode != 0 and 'namespace "k3s-daas" runs this cluster' in project.stderr, project.stderr


def _static_token(user: SealUser) -> str:
    return sign(user.key, api_claims(user.key.address, CLUSTER_ID, int(time.time()), 600))


def _create_configmap(control_plane, bearer: str, name: str) -> tuple[int, str]:
    """One write straight to the API server (no kubectl start-up): (status, message)."""
    host, port = control_plane.server.removeprefix("https://").split(":")
    connection = http.client.HTTPSConnection(
        host, int(port), context=ssl.create_default_context(cafile=str(control_plane.ca_file)), timeout=10
    )
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    try:
        connection.request(
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/configmaps",
            body=body,
            headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
    finally:
        connection.close()
    return response.status, str(answer.get("message", ""))


def test_a_slash_on_localnet_denies_the_same_write_within_one_second(
    kubectl, control_plane, chain: Chain, alice: SealUser
) -> None:
    bearer = _static_token(alice)
    # Warm the API server's TokenReview cache, so what follows is decided by admission alone.
    assert _create_configmap(control_plane, bearer, f"before-{RUN}")[0] == 201
    chain.slash(alice.record, 3 * SUI // 10, "admission test")
    slashed = time.monotonic()
    attempt, status, message = 0, 201, ""
    while status == 201 and time.monotonic() - slashed < 10:
        attempt += 1
        status, message = _create_configmap(control_plane, bearer, f"after-{RUN}-{attempt}")
    elapsed = time.monotonic() - slashed
    print(f"\nslash -> first denied write: {elapsed * 1000:.0f} ms ({attempt} attempts)")
    assert status == 403, (status, message)
    assert STAKE_DENIED + alice.record in message, message
    assert elapsed <= 1.0, f"denied {elapsed:.2f} s after the slash"
    # The same message through kubectl (the exec plugin's token is refused by authentication once the
    # API server re-reviews it; within its cache TTL admission is what says no).
    denied = alice.kubectl(kubectl, "create", "configmap", f"late-{RUN}", "-n", NAMESPACE)
    assert denied.returncode != 0
    assert STAKE_DENIED in denied.stderr or "Unauthorized" in denied.stderr, denied.stderr


def test_users_write_only_their_own_sealtokens_and_never_status(
    kubectl, control_plane, chain: Chain, root: SealUser, tmp_path: Path
) -> None:
    bob = seal_user(kubectl, control_plane, chain, tmp_path, "bob", 0, SUI, ["pods:read"])
    stranger = Keypair.generate(SignatureScheme.ED25519).address
    object_id = "0x" + hashlib.sha256(f"{RUN} bob second".encode()).hexdigest()
    # Self-service (manifests/35-): a second SealToken for one's own address.
    own = bob.kubectl(kubectl, "apply", "-f", "-", input=_sealtoken(f"adm-{RUN}-bob-2", bob.key.address, object_id))
    assert own.returncode == 0, own.stderr
    theirs = bob.kubectl(kubectl, "apply", "-f", "-", input=_sealtoken(f"adm-{RUN}-bob-3", stranger, object_id))
    assert theirs.returncode != 0
    assert f"{bob.key.address} may only write SealTokens for its own address, not for {stranger}" in theirs.stderr

    # Status: RBAC is widened on purpose (an admin's mistake); admission still refuses.
    kubectl(
        "create",
        "clusterrole",
        f"adm-{RUN}-status",
        "--verb=get,patch,update",
        "--resource=sealtokens.k3s-daas.io/status",
    )
    kubectl(
        "create", "clusterrolebinding", f"adm-{RUN}-status", f"--clusterrole=adm-{RUN}-status", f"--user={bob.username}"
    )
    forged = json.dumps({"status": {"phase": "Active", "permissions": ["*:*"]}})
    patch = ("patch", "sealtoken", bob.resource, "--subresource=status", "--type=merge", "-p", forged)
    refused = wait_for("RBAC allows the patch", lambda: _refused_by_admission(bob.kubectl(kubectl, *patch)))
    assert "SealToken status mirrors the chain: only the operator" in refused.stderr

    # An admin stake may create a SealToken for any address, but status stays the operator's.
    other = root.kubectl(kubectl, "apply", "-f", "-", input=_sealtoken(f"adm-{RUN}-for-stranger", stranger, object_id))
    assert other.returncode == 0, other.stderr
    admin_status = root.kubectl(kubectl, *patch)
    assert admin_status.returncode != 0 and "only the operator" in admin_status.stderr

    # A workload ServiceAccount with the same RBAC is refused by the objects webhook.
    kubectl("create", "serviceaccount", "forger", "-n", NAMESPACE)
    kubectl("create", "clusterrolebinding", f"adm-{RUN}-forger", f"--clusterrole=adm-{RUN}-status",
            f"--serviceaccount={NAMESPACE}:forger")  # fmt: skip
    account = f"--as=system:serviceaccount:{NAMESPACE}:forger"
    workload = wait_for("RBAC allows the forger", lambda: _refused_by_admission(kubectl(*patch, account, check=False)))
    assert 'admission webhook "objects.admission.k3s-daas.io" denied the request' in workload.stderr

    # The operator keeps writing status: a revocation on chain is recorded.
    chain.revoke(bob.key, bob.token)
    wait_for("Revoked", lambda: _phase(kubectl, "sealtoken", bob.resource) == "Revoked")
    kubectl("delete", "clusterrolebinding", f"adm-{RUN}-status", f"adm-{RUN}-forger", "--ignore-not-found")
    kubectl("delete", "clusterrole", f"adm-{RUN}-status", "--ignore-not-found")


def _refused_by_admission(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str] | None:
    """The result once it is admission that refuses (RBAC changes reach the API server's cache first)."""
    if result.returncode != 0 and "admission webhook" in result.stderr:
        return result
    raise AssertionError(f"not (yet) refused by admission: exit {result.returncode}: {result.stderr.strip()}")


def test_node_of_an_unstaked_name_is_refused_while_the_operator_cordons_and_deletes(
    kubectl, control_plane, chain: Chain, admission, tmp_path: Path
) -> None:
    owner = Keypair.generate(SignatureScheme.SECP256K1)
    worker = f"adm-worker-{RUN}"
    record = _staked_node(kubectl, chain, owner, worker)
    wait_for("allowlisted", lambda: _allowlisted(kubectl, worker))
    kubelet = _node_kubeconfig(control_plane, worker, tmp_path / "worker.kubeconfig")
    # The API server picks up a changed policy on its next refresh (about a second); a kubelet retries.
    registered = wait_for(
        "the node registered",
        lambda: (r := _run(kubectl, kubelet, "create", "-f", "-", input=_node(worker))).returncode == 0 and r,
    )
    assert registered.returncode == 0, registered.stderr

    ghost = f"adm-ghost-{RUN}"
    ghost_kubelet = _node_kubeconfig(control_plane, ghost, tmp_path / "ghost.kubeconfig")
    refused = _run(kubectl, ghost_kubelet, "create", "-f", "-", input=_node(ghost))
    # The policy, inside the API server, answers first ...
    assert refused.returncode != 0 and f"node {ghost} may not register or update" in refused.stderr, refused.stderr
    assert "k3s-daas node guard" in refused.stderr
    # ... and without it the webhook's Node guard refuses, with the reason.
    binding = ("validatingadmissionpolicybinding", "k3s-daas-node-guard")
    dry_run = ("create", "-f", "-", "--dry-run=server")
    kubectl("delete", *binding)
    try:
        by_webhook = wait_for(
            "the webhook's answer",
            lambda: _refused_by_admission(_run(kubectl, ghost_kubelet, *dry_run, input=_node(ghost))),
        )
        assert 'admission webhook "nodes.admission.k3s-daas.io" denied the request' in by_webhook.stderr
        assert f"node '{ghost}' may not register: no StakedNode pays for it" in by_webhook.stderr
    finally:
        kubectl("apply", "-f", str(MANIFESTS / "41-node-guard-policy.yaml"))
    wait_for(
        "the policy back",
        lambda: "k3s-daas node guard" in _run(kubectl, ghost_kubelet, *dry_run, input=_node(ghost)).stderr,
    )

    # Slash: the operator (its ServiceAccount) cordons and deletes the Node through admission ...
    chain.slash(record, SUI // 10, "admission test")
    wait_for("Node deleted", lambda: get_json(kubectl, "node", worker) is None, timeout=60)
    wait_for("Slashed", lambda: _phase(kubectl, "stakednode", worker) == "Slashed")
    # ... and the node cannot come back.
    again = _run(kubectl, kubelet, "create", "-f", "-", input=_node(worker))
    assert again.returncode != 0 and "may not register" in again.stderr, again.stderr
    assert not _allowlisted(kubectl, worker)


def test_break_glass_keeps_the_cluster_manageable_with_the_webhook_stopped(
    kubectl, control_plane, chain: Chain, webhook: WebhookServer, alice: SealUser, root: SealUser, tmp_path: Path
) -> None:
    owner = Keypair.generate(SignatureScheme.ED25519)
    worker = f"adm-late-{RUN}"
    _staked_node(kubectl, chain, owner, worker)
    wait_for("allowlisted", lambda: _allowlisted(kubectl, worker))
    kubelet = _node_kubeconfig(control_plane, worker, tmp_path / "w.kubeconfig")
    # The API server compiles the updated policy: wait until it admits the node.
    listed = time.monotonic()
    wait_for(
        "the policy admits the node",
        lambda: _run(kubectl, kubelet, "create", "-f", "-", "--dry-run=server", input=_node(worker)).returncode == 0,
    )
    print(f"\nnode list written -> the policy admits the node: {(time.monotonic() - listed) * 1000:.0f} ms")
    webhook.stop()
    try:
        # Seal users: fail closed (authentication and the stake gate both need the webhook).
        denied = root.kubectl(kubectl, "create", "configmap", f"down-{RUN}", "-n", NAMESPACE)
        assert denied.returncode != 0
        # Node identities: the ValidatingAdmissionPolicy still decides, inside the API server.
        ghost = f"adm-ghost2-{RUN}"
        refused = _run(kubectl, _node_kubeconfig(control_plane, ghost, tmp_path / "g.kubeconfig"), "create", "-f", "-",
                       input=_node(ghost))  # fmt: skip
        assert refused.returncode != 0 and "k3s-daas node guard" in refused.stderr, refused.stderr
        late = _run(kubectl, kubelet, "create", "-f", "-", input=_node(worker))
        assert late.returncode == 0, late.stderr  # an Active node still registers

        # The client-certificate admin (system:masters) is never sent to the webhook.
        kubectl("create", "namespace", f"glass-{RUN}")
        kubectl("create", "configmap", "notes", "-n", f"glass-{RUN}", "--from-literal=why=outage")
        kubectl("patch", "sealtoken", alice.resource, "--subresource=status", "--type=merge", "-p",
                json.dumps({"status": {"message": "edited during an outage (break-glass)"}}))  # fmt: skip
        kubectl("cordon", worker)
        kubectl("delete", "node", worker)
        kubectl("delete", "namespace", f"glass-{RUN}", "--wait=false")
        # The operator records chain changes meanwhile (its ServiceAccount is not sent either).
        chain.revoke(root.key, root.token)
        wait_for("Revoked while the webhook is down", lambda: _phase(kubectl, "sealtoken", root.resource) == "Revoked")
        # The documented last resort: remove the webhook configuration and the policy binding.
        kubectl("delete", "validatingwebhookconfiguration", "k3s-daas")
        kubectl("delete", "validatingadmissionpolicybinding", "k3s-daas-node-guard")
    finally:
        webhook.start()
