"""`k3s-daas bench request`: the latency of a request through the chain, next to kubectl.

One run starts the whole stack (as `k3s-daas up` does) in a temporary directory, with a static admin
token as the baseline identity, adds a webhook running the on-chain request executor (its own
process, as the webhook's ServiceAccount with manifests/components/onchain-requests), registers
its development enclave key on localnet, and stakes a user whose Seal token reads namespaces. Then,
interleaved, each a new process as a user runs it:

* baseline: `kubectl get --raw /api/v1/namespaces` with the static token;
* `k3s-daas request GET /api/v1/namespaces` (submit, wait for the signed response, verify, print);
* the same request in-process (no Python start-up, no pysui schema introspection): what the chain
  round trip itself costs.

Figures are printed, never asserted: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import ssl
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from k3s_daas import benchmarking
from k3s_daas import stack as installation
from k3s_daas.chain import ChainClient
from k3s_daas.controlplane.commands import progress
from k3s_daas.controlplane.kubeconfig import token_kubeconfig, write_kubeconfig
from k3s_daas.controlplane.processes import free_loopback_port, spawn, wait_until_ready
from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.onchain_requests import client, development
from k3s_daas.settings import ChainSettings, RequestSettings, Settings
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas.sui.keystore import write_keystore
from k3s_daas.up import Stack, StackLayout

PATH = "/api/v1/namespaces"


def register(what: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "k3s-daas request GET through the chain vs kubectl with a static token"
    parser = benchmarking.add_benchmark(what, "request", help_text, __doc__, run)
    parser.add_argument("--calls", type=int, default=20, help="calls per variant (default %(default)s)")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        metavar="S",
        help="the executor's event poll interval (default: settings, K3S_DAAS_ONCHAIN_REQUESTS_POLL_INTERVAL_S)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    poll_s = args.poll_interval or settings.requests.poll_interval_s
    with tempfile.TemporaryDirectory(prefix="k3s-daas-bench-request-") as directory, contextlib.ExitStack() as exits:
        state = Path(directory)
        static_token = secrets.token_hex(24)
        stack = benchmarking.start_bench_stack(settings, state, exits, static_admin_token=static_token)
        figures = measure(args.calls, poll_s, stack, state, static_token)
    print_report(figures, poll_s)
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


def measure(calls: int, poll_s: float, stack: Stack, state: Path, static_token: str) -> dict[str, Any]:
    kubectl = installation.Kubectl(stack.cluster.kubectl, stack.cluster.admin_kubeconfig)
    installation.install_component(kubectl, installation.ONCHAIN_REQUESTS_COMPONENT)
    chain = LocalnetClient(stack.chain_url)
    package_id = chain.package_id()
    progress("starting the executor (a webhook with --onchain-requests) ...")
    executor_url, public_key = _start_executor(stack, state, package_id, poll_s)
    development.ensure_pcrs(chain, stack.admin)
    development.register_development_enclave(StackLayout(state).chain_db, public_key)
    user = Keypair.generate(SignatureScheme.ED25519)
    keystore = state / "user.keystore"
    write_keystore(keystore, [user])
    benchmarking.issue_active_token(chain, kubectl, user, benchmarking.stake_user(chain, user), ["namespaces:read"])
    static = state / "static.kubeconfig"
    write_kubeconfig(
        static, token_kubeconfig(stack.cluster.server, stack.cluster.ca_file.read_bytes(), static_token, "a")
    )
    env = {
        **os.environ,
        "K3S_DAAS_CHAIN_URL": stack.chain_url,
        "K3S_DAAS_PACKAGE_ID": package_id,
        "K3S_DAAS_CLUSTER_ID": stack.cluster_id,
        "K3S_DAAS_WEBHOOK_URL": executor_url,
        "K3S_DAAS_WEBHOOK_CA": str(stack.webhook.ca_file),
    }
    cli = [str(Path(sys.executable).with_name("k3s-daas")), "request", "GET", PATH, "--keystore", str(keystore)]
    kubectl_argv = [str(stack.cluster.kubectl), f"--kubeconfig={static}", "get", "--raw", PATH]
    progress(f"timing {calls} calls per variant ...")
    samples: dict[str, list[float]] = {"kubectl_static": [], "request_cli": [], "request_in_process": []}
    chain_settings = ChainSettings(url=stack.chain_url, package_id=package_id)
    for _ in range(calls):
        samples["kubectl_static"].append(benchmarking.time_command(kubectl_argv))
        samples["request_cli"].append(benchmarking.time_command(cli, env))
        samples["request_in_process"].append(asyncio.run(_in_process(chain_settings, user)))
    baseline = statistics.median(samples["kubectl_static"])
    return {
        "calls": {name: benchmarking.summary(values) for name, values in samples.items()},
        "ratios_p50": {
            name: round(statistics.median(samples[name]) / baseline, 2) for name in samples if name != "kubectl_static"
        },
        "executor_poll_interval_s": poll_s,
    }


async def _in_process(settings: ChainSettings, user: Keypair) -> float:
    """Submit and wait for the verified response, with a chain client built beforehand."""
    async with await ChainClient.connect(settings) as chain:
        started = time.monotonic()
        request_id = await client.submit(settings.url, user, "GET", PATH, "", 30)
        response = await client.wait_for_response(chain, request_id, 60)
        await client.answer(chain, response, RequestSettings(), "", user)
        return time.monotonic() - started


def _start_executor(stack: Stack, state: Path, package_id: str, poll_s: float) -> tuple[str, bytes]:
    port = free_loopback_port()
    kubeconfig = state / "identities" / "webhook.kubeconfig"
    argv = [
        sys.executable, "-m", "k3s_daas.cli", "webhook", "serve", "--host=127.0.0.1", f"--port={port}",
        f"--cert-file={stack.webhook.cert_file}", f"--key-file={stack.webhook.key_file}",
        f"--cluster-id={stack.cluster_id}", f"--kubeconfig={kubeconfig}", "--node-guard-policy=",
        "--onchain-requests",
    ]  # fmt: skip
    env = {
        **os.environ,
        "K3S_DAAS_CHAIN_URL": stack.chain_url,
        "K3S_DAAS_PACKAGE_ID": package_id,
        "K3S_DAAS_ONCHAIN_REQUESTS_POLL_INTERVAL_S": str(poll_s),
    }
    log = StackLayout(state).logs / "executor.log"
    process = spawn("executor", argv, log, str(state), tie_to_parent=True, environment=env)
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(stack.webhook.ca_file))
    wait_until_ready(process, f"{url}/readyz", context, log, time.monotonic() + 60)
    with urllib.request.urlopen(f"{url}/attestation", context=context, timeout=10) as answer:  # noqa: S310
        return url, bytes.fromhex(json.loads(answer.read())["public_key"])


def print_report(figures: dict[str, Any], poll_s: float) -> None:
    print(f"GET {PATH} (interleaved; executor polls events every {poll_s} s):")
    for name, stats in figures["calls"].items():
        ratio = figures["ratios_p50"].get(name)
        suffix = f"  ratio {ratio:.2f} vs kubectl" if ratio is not None else "  (baseline)"
        print(f"  {name:20} p50 {stats['p50_ms']:8.1f} ms  p99 {stats['p99_ms']:8.1f} ms{suffix}")
