"""`k3s-daas bench e2e`: what a kubectl user feels, and how fast a revocation bites.

One run starts the whole stack (as `k3s-daas up` does) in a temporary directory, with a static admin
token added to the API server as the baseline identity, then measures:

* `kubectl get` with a Seal token against the same call with the static token, interleaved:
  warm (the API server's token cache holds the Seal token), cold (a fresh Seal token every call, so
  the API server asks the webhook and the webhook checks the signature), and through the exec plugin
  (kubectl runs `k3s-daas token` first);
* revocation on chain -> the first write refused (admission, from the operator's status), and
  -> the first read refused (authentication, once the API server's caches expire).

Figures are printed, never asserted: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import secrets
import ssl
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from k3s_daas import benchmarking
from k3s_daas import stack as installation
from k3s_daas.controlplane.commands import progress
from k3s_daas.controlplane.kubeconfig import token_kubeconfig, write_kubeconfig
from k3s_daas.credential.kubeconfig import seal_kubeconfig
from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.sealtoken import mint
from k3s_daas.settings import Settings
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas.sui.keystore import write_keystore
from k3s_daas.up import Stack

USER_PERMISSIONS = ["pods:read", "configmaps:write"]
POLL_INTERVAL_S = 0.02


def register(what: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "kubectl get with a Seal token vs a static token; revocation -> denied write and read"
    parser = benchmarking.add_benchmark(what, "e2e", help_text, __doc__, run)
    parser.add_argument("--calls", type=int, default=30, help="kubectl calls per variant (default %(default)s)")
    parser.add_argument("--revocations", type=int, default=10, help="revocations timed (default %(default)s)")
    parser.add_argument(
        "--read-samples",
        type=int,
        default=3,
        help="of those, how many also wait for the read to fail (default %(default)s)",
    )
    parser.add_argument(
        "--cache-ttl", type=int, default=30, help="--authentication-token-webhook-cache-ttl, s (default %(default)s)"
    )


@dataclasses.dataclass(frozen=True)
class Identity:
    key: Keypair
    record: str


def run(args: argparse.Namespace, settings: Settings) -> int:
    with tempfile.TemporaryDirectory(prefix="k3s-daas-bench-e2e-") as directory, contextlib.ExitStack() as exits:
        state = Path(directory)
        static_token = secrets.token_hex(24)
        stack = benchmarking.start_bench_stack(
            settings, state, exits, static_admin_token=static_token, cache_ttl=f"{args.cache_ttl}s"
        )
        figures = measure(args, stack, state, static_token)
    print_report(figures, args.cache_ttl)
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


def measure(args: argparse.Namespace, stack: Stack, state: Path, static_token: str) -> dict[str, Any]:
    kubectl = installation.Kubectl(stack.cluster.kubectl, stack.cluster.admin_kubeconfig)
    chain = LocalnetClient(stack.chain_url)
    user = Identity(Keypair.generate(SignatureScheme.ED25519), "")
    user = dataclasses.replace(user, record=benchmarking.stake_user(chain, user.key))
    progress("timing kubectl get ...")
    benchmarking.issue_active_token(chain, kubectl, user.key, user.record, USER_PERMISSIONS)
    cluster_id = stack.cluster_id
    kubeconfigs = _kubeconfigs(stack, state, user, static_token)
    warm = _seal_token(user.key, cluster_id)
    calls: dict[str, list[float]] = {"static": [], "seal_warm": [], "seal_cold": [], "exec_plugin": []}
    for _ in range(args.calls):
        calls["static"].append(_time_kubectl(stack, kubeconfigs["static"]))
        calls["seal_warm"].append(_time_kubectl(stack, kubeconfigs["bearer"], warm))
        calls["seal_cold"].append(_time_kubectl(stack, kubeconfigs["bearer"], _seal_token(user.key, cluster_id)))
        calls["exec_plugin"].append(_time_kubectl(stack, kubeconfigs["plugin"]))
    progress(f"timing {args.revocations} revocations ...")
    writes: list[float] = []
    reads: list[float] = []
    for index in range(args.revocations):
        # A fresh staker each time: an address with another Active token would rightly keep writing.
        staker = Identity(Keypair.generate(SignatureScheme.ED25519), "")
        staker = dataclasses.replace(staker, record=benchmarking.stake_user(chain, staker.key))
        token_id = benchmarking.issue_active_token(chain, kubectl, staker.key, staker.record, USER_PERMISSIONS)
        api = _Api(stack, _seal_token(staker.key, cluster_id))
        if api.write(f"warm-{index}") != 201 or api.read() != 200:
            raise RuntimeError("the Seal user could not write before the revocation: the stack is not ready")
        chain.call(staker.key, "k8s_gateway", "revoke_seal_token", {"token_id": token_id})
        write_s, read_s = _time_revocation(api, wait_for_read=index < args.read_samples, cache_ttl_s=args.cache_ttl)
        writes.append(write_s)
        if read_s is not None:
            reads.append(read_s)
    return {
        "kubectl_get": {name: benchmarking.summary(samples) for name, samples in calls.items()},
        "ratios_p50": {
            name: round(statistics.median(calls[name]) / statistics.median(calls["static"]), 3)
            for name in ("seal_warm", "seal_cold", "exec_plugin")
        },
        "revocation_to_denied_write": benchmarking.summary(writes),
        "revocation_to_denied_read": benchmarking.summary(reads) if reads else None,
    }


def _time_revocation(api: _Api, *, wait_for_read: bool, cache_ttl_s: int) -> tuple[float, float | None]:
    """Seconds from the revocation (its call has returned: the event is served) to the first refused
    write and, optionally, the first refused read."""
    revoked = time.monotonic()
    write = _until(lambda: api.write(f"after-{time.monotonic_ns()}") == 403) - revoked
    if not wait_for_read:
        return write, None
    return write, _until(lambda: api.read() == 401, timeout_s=cache_ttl_s + 60) - revoked


def _seal_token(key: Keypair, cluster_id: str) -> str:
    return mint.sign(key, mint.api_claims(key.address, cluster_id, int(time.time()), 900))


def _kubeconfigs(stack: Stack, state: Path, user: Identity, static_token: str) -> dict[str, Path]:
    ca = stack.cluster.ca_file.read_bytes()
    keystore = state / "bench-user.keystore"
    write_keystore(keystore, [user.key])
    paths = {
        "static": state / "static.kubeconfig",
        "bearer": state / "bearer.kubeconfig",
        "plugin": state / "plugin.kubeconfig",
    }
    write_kubeconfig(
        paths["static"], token_kubeconfig(stack.cluster.server, ca, static_token, benchmarking.STATIC_ADMIN)
    )
    write_kubeconfig(paths["bearer"], token_kubeconfig(stack.cluster.server, ca, "", "seal-bearer"))
    write_kubeconfig(
        paths["plugin"],
        seal_kubeconfig(
            server=stack.cluster.server,
            ca_pem=ca,
            cluster_id=stack.cluster_id,
            address=user.key.address,
            command=str(Path(sys.executable).with_name("k3s-daas")),
            token_args=["--keystore", str(keystore), "--address", user.key.address],
        ),
    )
    return paths


def _time_kubectl(stack: Stack, kubeconfig: Path, token: str | None = None) -> float:
    argv = [str(stack.cluster.kubectl), f"--kubeconfig={kubeconfig}", "get", "pods", "-n", "default", "-o", "name"]
    if token is not None:
        argv.insert(2, f"--token={token}")
    return benchmarking.time_command(argv, timeout_s=60)


class _Api:
    """Direct HTTPS calls with a bearer token: polling with kubectl would add its own start-up time."""

    def __init__(self, stack: Stack, bearer: str) -> None:
        self._server = stack.cluster.server
        self._context = ssl.create_default_context(cafile=str(stack.cluster.ca_file))
        self._headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}

    def _status(self, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self._server + path, data=data, headers=self._headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5, context=self._context) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def write(self, name: str) -> int:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
        return self._status("POST", "/api/v1/namespaces/default/configmaps", body)

    def read(self) -> int:
        return self._status("GET", "/api/v1/namespaces/default/pods?limit=1")


def _until(condition: Callable[[], bool], timeout_s: float = 30.0) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(POLL_INTERVAL_S)
    raise RuntimeError(f"not observed within {timeout_s}s")


def print_report(figures: dict[str, Any], cache_ttl: int) -> None:
    print("kubectl get pods (one process per call, interleaved):")
    for name, stats in figures["kubectl_get"].items():
        ratio = figures["ratios_p50"].get(name)
        suffix = f"  ratio {ratio:.3f} vs static" if ratio is not None else "  (baseline)"
        print(f"  {name:12} p50 {stats['p50_ms']:7.1f} ms  p99 {stats['p99_ms']:7.1f} ms{suffix}")
    write = figures["revocation_to_denied_write"]
    print(f"revocation -> write denied: p50 {write['p50_ms']} ms, p99 {write['p99_ms']} ms (budget p99 <= 1000 ms)")
    read = figures["revocation_to_denied_read"]
    if read:
        print(
            f"revocation -> read denied: p50 {read['p50_ms']} ms, max {read['max_ms']} ms "
            f"(webhook cache TTL {cache_ttl} s; kube-apiserver adds a fixed 10 s success cache)"
        )
