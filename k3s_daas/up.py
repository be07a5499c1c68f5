"""`k3s-daas up`: the whole stack on embedded defaults, in the foreground, until interrupted.

It starts localnet (with a development admin key holding the AdminCap), the loopback control plane
(whose kube-apiserver gets the token-webhook flags a k3s server would get), installs manifests/,
then runs the webhook and the operator as their ServiceAccounts and installs admission. Everything it
starts is tied to it and stopped when it exits, however it exits. When all is ready it writes
``DIR/env`` for a shell to source. With ``--onchain-requests`` the webhook also runs the on-chain
request executor: the component manifests/components/onchain-requests is applied and the webhook's
development enclave key is registered on localnet (docs/onchain-requests.md).

Layout of the state directory::

    admin.keystore        development admin key (Sui CLI keystore format)
    localnet.sqlite3      the chain (kept across runs)
    control-plane/        see k3s_daas.controlplane.cluster
    webhook/              the webhook's CA, serving certificate, authenticator kubeconfig
    identities/           ServiceAccount kubeconfigs of the webhook and the operator
    logs/                 one log per process started here
    env                   what to source
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from k3s_daas import logs, stack
from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.commands import default_state_dir, progress
from k3s_daas.controlplane.kubeconfig import write_private
from k3s_daas.controlplane.processes import (
    ManagedProcess,
    free_loopback_port,
    is_running,
    spawn,
    stop,
    wait_until_ready,
)
from k3s_daas.controlplane.webhook_wiring import (
    DEFAULT_CACHE_TTL,
    WebhookEndpoint,
    apiserver_webhook_args,
    prepare_webhook_endpoint,
)
from k3s_daas.errors import UserError
from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.onchain_requests import development
from k3s_daas.settings import CONFIG_ENV, ENV_NAMES, ENV_PREFIX, Settings
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas.sui.keystore import load_keystore, write_keystore

WATCH_INTERVAL_S = 1.0
COMPONENT_START_TIMEOUT_S = 30.0
DEFAULT_CLUSTER_ID = "k3s-daas-local"
ONCHAIN_TRY = 'k3s-daas request GET /api/v1/namespaces --keystore alice.keystore --address "$ALICE"'


@dataclass(frozen=True)
class StackLayout:
    state_dir: Path

    @property
    def admin_keystore(self) -> Path:
        return self.state_dir / "admin.keystore"

    @property
    def chain_db(self) -> Path:
        return self.state_dir / "localnet.sqlite3"

    @property
    def control_plane(self) -> Path:
        return self.state_dir / "control-plane"

    @property
    def webhook(self) -> Path:
        return self.state_dir / "webhook"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"


@dataclass(frozen=True)
class Stack:
    """What `up` started and what a user needs to reach it."""

    cluster: cluster.RunningCluster
    chain_url: str
    cluster_id: str
    webhook: WebhookEndpoint
    admin: Keypair
    admin_keystore: Path
    processes: tuple[ManagedProcess, ...]
    onchain_requests: bool = False
    """The webhook runs the on-chain request executor, its enclave key registered."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("up", help="run the whole stack locally, in the foreground, until Ctrl-C")
    parser.add_argument("--state-dir", type=Path, default=default_state_dir(), help="default: %(default)s")
    parser.add_argument(
        "--webhook-port", type=int, help="0 picks a free port (default: settings, K3S_DAAS_WEBHOOK_PORT, 9443)"
    )
    parser.add_argument(
        "--onchain-requests",
        action="store_true",
        help="the webhook also executes on-chain requests (`k3s-daas request`), its development enclave key "
        "registered on localnet (docs/onchain-requests.md)",
    )
    parser.set_defaults(run=run)


def development_admin_key(keystore: Path) -> Keypair:
    """The admin key of this state directory: created once, then reused (it owns the AdminCap)."""
    if keystore.exists():
        return load_keystore(keystore)[0]
    key = Keypair.generate(SignatureScheme.ED25519)
    write_keystore(keystore, [key])
    return key


def env_file(stack: Stack) -> str:
    """What `DIR/env` holds: a file a POSIX shell can source."""
    variables = {
        "KUBECONFIG": str(stack.cluster.admin_kubeconfig),
        "K3S_DAAS_SERVER": stack.cluster.server,
        "K3S_DAAS_CA": str(stack.cluster.ca_file),
        "K3S_DAAS_KUBECTL": str(stack.cluster.kubectl),
        "K3S_DAAS_CHAIN_URL": stack.chain_url,
        "K3S_DAAS_CLUSTER_ID": stack.cluster_id,
        "K3S_DAAS_WEBHOOK_URL": stack.webhook.url,
        "K3S_DAAS_WEBHOOK_CA": str(stack.webhook.ca_file),
        "K3S_DAAS_ADMIN_KEYSTORE": str(stack.admin_keystore),
        "K3S_DAAS_ADMIN_ADDRESS": stack.admin.address,
    }
    lines = [f"export {name}={shlex.quote(value)}\n" for name, value in variables.items()]
    # kubectl built with the API server, and this k3s-daas, first on PATH.
    tools = {str(stack.cluster.kubectl.parent), str(Path(sys.executable).parent)}
    lines.append(f'export PATH={":".join(shlex.quote(t) for t in sorted(tools))}:"$PATH"\n')
    return "".join(lines)


def _start_localnet(settings: Settings, layout: StackLayout, admin: Keypair, started: list[ManagedProcess]) -> str:
    host, port = settings.localnet.host, settings.localnet.port
    argv = [
        sys.executable,
        "-m",
        "k3s_daas.cli",
        "localnet",
        "serve",
        f"--host={host}",
        f"--port={port}",
        f"--db={layout.chain_db}",
        f"--admin={admin.address}",
    ]
    log = layout.logs / "localnet.log"
    process = spawn("localnet", argv, log, str(layout.state_dir), tie_to_parent=True)
    started.append(process)
    wait_until_ready(process, f"http://{host}:{port}/healthz", None, log, time.monotonic() + COMPONENT_START_TIMEOUT_S)
    return f"http://{host}:{port}/graphql"


def start_stack(
    settings: Settings,
    state_dir: Path,
    webhook_port: int,
    exits: contextlib.ExitStack,
    *,
    cache_ttl: str = DEFAULT_CACHE_TTL,
    extra_apiserver_args: tuple[str, ...] = (),
    onchain_requests: bool = False,
) -> Stack:
    """Start every component; ``exits`` stops each of them, in reverse order, when it closes."""
    layout = StackLayout(state_dir)
    started: list[ManagedProcess] = []
    exits.callback(stop, started)  # by reference: covers everything appended below
    admin = development_admin_key(layout.admin_keystore)
    progress("starting localnet ...")
    chain_url = _start_localnet(settings, layout, admin, started)
    webhook = prepare_webhook_endpoint(layout.webhook, webhook_port or free_loopback_port())
    running = cluster.up(
        settings.control_plane,
        layout.control_plane,
        progress,
        tie_to_parent=True,
        extra_apiserver_args=(*apiserver_webhook_args(webhook, cache_ttl), *extra_apiserver_args),
    )
    exits.callback(cluster.down, layout.control_plane)
    kubectl = stack.Kubectl(running.kubectl, running.admin_kubeconfig)
    progress("installing manifests/ (namespace, CRDs, RBAC) ...")
    stack.install_base(kubectl)
    package_id = LocalnetClient(chain_url).package_id()
    onchain = stack.OnchainRequests(chain_url, package_id) if onchain_requests else None
    if onchain is not None:
        progress(f"installing manifests/{stack.COMPONENTS}/{stack.ONCHAIN_REQUESTS_COMPONENT} (on-chain requests) ...")
        stack.install_component(kubectl, stack.ONCHAIN_REQUESTS_COMPONENT)
    identities = layout.state_dir / "identities"
    marker = str(layout.state_dir)
    progress("starting the webhook ...")
    webhook_kubeconfig = stack.service_account_kubeconfig(
        kubectl, running, "k3s-daas-webhook", identities / "webhook.kubeconfig"
    )
    started.append(
        stack.start_webhook(
            webhook, running, webhook_kubeconfig, DEFAULT_CLUSTER_ID, layout.logs / "webhook.log", marker, onchain
        )
    )
    if onchain is not None:
        _register_webhook_enclave(chain_url, layout, admin, webhook)
    stack.install_admission(kubectl, webhook)
    progress("starting the operator ...")
    operator_kubeconfig = stack.service_account_kubeconfig(
        kubectl, running, "k3s-daas-operator", identities / "operator.kubeconfig"
    )
    operator, _metrics_port = stack.start_operator(
        operator_kubeconfig, chain_url, package_id, layout.logs / "operator.log", marker
    )
    started.append(operator)
    return Stack(
        running,
        chain_url,
        DEFAULT_CLUSTER_ID,
        webhook,
        admin,
        layout.admin_keystore,
        tuple(started),
        onchain_requests=onchain is not None,
    )


def _register_webhook_enclave(chain_url: str, layout: StackLayout, admin: Keypair, webhook: WebhookEndpoint) -> None:
    """The development webhook's enclave key registered on localnet: its executor executes nothing before.
    A new process has a new key, so each start registers anew."""
    chain = LocalnetClient(chain_url)
    if development.ensure_pcrs(chain, admin):
        progress("set the development PCRs on localnet (enclave::update_pcrs)")
    public_key = development.webhook_public_key(webhook.url, webhook.ca_file)
    enclave = development.register_development_enclave(layout.chain_db, public_key).enclave_id
    progress(f"registered the webhook's development enclave key on localnet: Enclave {enclave}")


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _hand_down_global_flags(args: argparse.Namespace) -> None:
    """The processes started here are `k3s-daas` commands too: they read the same configuration
    file and log the same way. They inherit this environment, so that is where the flags go."""
    if args.config is not None:
        os.environ[CONFIG_ENV] = str(args.config.resolve())
    if args.log_format is not None:
        os.environ[ENV_PREFIX + ENV_NAMES["log"]["format"]] = args.log_format
    if args.log_level is not None:
        os.environ[ENV_PREFIX + ENV_NAMES["log"]["level"]] = args.log_level


def run(args: argparse.Namespace, settings: Settings) -> int:
    layout = StackLayout(args.state_dir.resolve())
    logs.configure(settings.log)
    _hand_down_global_flags(args)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with contextlib.ExitStack() as exits:
        exits.callback(layout.env_file.unlink, missing_ok=True)
        try:
            webhook_port = settings.webhook.port if args.webhook_port is None else args.webhook_port
            stack = start_stack(settings, layout.state_dir, webhook_port, exits, onchain_requests=args.onchain_requests)
            write_private(layout.env_file, env_file(stack).encode())
            print(f"ready. Try:\n  source {layout.env_file}", flush=True)
            print("  k3s-daas localnet info; kubectl get namespaces", flush=True)
            if stack.onchain_requests:
                print(f"  {ONCHAIN_TRY}  # a Seal token allowing namespaces:read: docs/onchain-requests.md", flush=True)
            print("  Ctrl-C here stops everything this command started", flush=True)
            _watch(stack)
        except KeyboardInterrupt:
            print("stopping ...", file=sys.stderr, flush=True)
    return 0


def _watch(stack: Stack) -> None:
    """Return never: raise when a component stops on its own, so `up` does not pretend to run."""
    processes = (*stack.processes, *stack.cluster.processes)
    while True:
        stopped = [p.name for p in processes if not is_running(p)]
        if stopped:
            raise UserError(f"{', '.join(stopped)} stopped unexpectedly; logs in {stack.cluster.state_dir.parent}")
        time.sleep(WATCH_INTERVAL_S)
