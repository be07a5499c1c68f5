"""What the whole-stack benchmarks (`k3s-daas bench e2e`, `request`, `soak`) share: their subcommand,
the stack on free ports with a static admin token as the baseline identity, a Seal user made Active,
timed commands and the summary of their samples."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from k3s_daas import stack as installation
from k3s_daas.controlplane.kubeconfig import write_private
from k3s_daas.controlplane.processes import free_loopback_port
from k3s_daas.controlplane.webhook_wiring import DEFAULT_CACHE_TTL
from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.settings import Settings
from k3s_daas.stake import Role
from k3s_daas.sui.crypto import Keypair
from k3s_daas.up import Stack, start_stack

STATIC_ADMIN: Final = "bench-admin"
"""The user (and kubeconfig context) of the static token."""


def add_benchmark(
    what: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    doc: str | None,
    run: Callable[[argparse.Namespace, Settings], int],
) -> argparse.ArgumentParser:
    """`k3s-daas bench NAME`, described by its module's docstring, with --json; add its own flags to it."""
    parser = what.add_parser(
        name, help=help_text, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.set_defaults(run=run)
    return parser


def start_bench_stack(
    settings: Settings,
    state: Path,
    exits: contextlib.ExitStack,
    *,
    static_admin_token: str | None = None,
    cache_ttl: str = DEFAULT_CACHE_TTL,
) -> Stack:
    """The stack of `k3s-daas up` in ``state``, localnet and webhook on free loopback ports. With
    ``static_admin_token`` the API server also accepts that token as a cluster admin: the baseline."""
    settings = dataclasses.replace(settings, localnet=dataclasses.replace(settings.localnet, port=free_loopback_port()))
    extra_apiserver_args: tuple[str, ...] = ()
    if static_admin_token is not None:
        token_file = state / "static-tokens.csv"
        write_private(token_file, f"{static_admin_token},{STATIC_ADMIN},{STATIC_ADMIN},system:masters\n".encode())
        extra_apiserver_args = (f"--token-auth-file={token_file}",)
    return start_stack(
        settings, state, free_loopback_port(), exits, cache_ttl=cache_ttl, extra_apiserver_args=extra_apiserver_args
    )


def stake_user(chain: LocalnetClient, key: Keypair) -> str:
    """Stakes the minimum of a user; the stake record's id."""
    report = chain.call(
        key, "staking", "stake", {"amount": Role.USER.minimum_mist, "role": int(Role.USER), "node_name": ""}
    )
    return str(report["events"][0]["parsedJson"]["record_id"])


def issue_active_token(
    chain: LocalnetClient, kubectl: installation.Kubectl, key: Keypair, record: str, permissions: list[str]
) -> str:
    """Issues a Seal token on ``record`` and waits until its SealToken is Active; the token's id."""
    arguments = {"record": record, "permissions": permissions, "expires_in_ms": 3_600_000}
    report = chain.call(key, "k8s_gateway", "issue_seal_token", arguments)
    token_id = str(report["events"][0]["parsedJson"]["token_id"])
    name = f"seal-{token_id.removeprefix('0x')[:40]}"  # what the operator names it (--create-from-events)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(installation.StackError):
            kubectl("wait", "--for=jsonpath={.status.phase}=Active", f"sealtoken/{name}", "--timeout=30s")
            return token_id
        time.sleep(0.2)  # the operator has not created the resource yet
    raise RuntimeError(f"SealToken {name} did not become Active")


def time_command(argv: list[str], env: Mapping[str, str] | None = None, timeout_s: float = 120) -> float:
    """Seconds the command took; a failure is an error (a benchmark of failing calls measures nothing)."""
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-500:]}")
    return elapsed


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples) * 1000, 1),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 1),
        "max_ms": round(max(samples) * 1000, 1),
    }
