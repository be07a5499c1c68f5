"""Benchmark of the operator (not a test): cold start to all Active, memory, chain queries.

    .venv/bin/python benchmarks/operator_bench.py --tokens 10000 --nodes 1000

Starts a loopback control plane and a localnet (subprocess), writes the chain state straight into
localnet's store, creates the SealTokens and StakedNodes through the API server, then starts the
operator (`python -m k3s_daas.cli operator`, first start: no cursor) and measures:

* cold start: operator start -> every object Active (the operator's phase gauge, published every
  second), and -> every object reconciled (a node's join token Secret is created after its
  Active status); baseline: the time the same client took to create the objects (as many API
  writes as the operator's status writes), in the same run;
* where the cold start's time went: CPU seconds of each process (operator, kube-apiserver, etcd,
  kube-controller-manager, localnet; stable on a shared machine where wall time is not) and the
  API server's requests by verb and resource (``accounting.py``);
* resident memory (VmRSS) of the operator: peak, and after start-up with nothing loaded (baseline);
* chain queries per minute at steady state with no changes, and with CHANGES per second (token
  revocations); baseline: the event-polling queries alone (what an operator with no objects makes).

Figures are printed as one JSON document. ``--identity service-account`` runs the operator with its
ServiceAccount token and the RBAC of manifests/base/10-operator-rbac.yaml instead of the admin client
certificate; ``--py-spy FILE`` and ``--apiserver-profile FILE`` profile the cold start;
``--skip-steady`` stops after it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

import accounting  # noqa: E402  (benchmarks/, beside this script)

from k3s_daas.controlplane import cluster  # noqa: E402
from k3s_daas.controlplane.kubeconfig import write_kubeconfig  # noqa: E402
from k3s_daas.controlplane.processes import free_loopback_port  # noqa: E402
from k3s_daas.localnet.state import Call  # noqa: E402
from k3s_daas.localnet.store import Store  # noqa: E402
from k3s_daas.settings import Settings  # noqa: E402
from k3s_daas.sui.crypto import Keypair, SignatureScheme  # noqa: E402
from k3s_daas_operator.kube import Conflict, KubeClient, custom_path, load_connection  # noqa: E402

SUI = 1_000_000_000


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def chain_state(store: Store, tokens: int, nodes: int) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(owner, token id) per user and (owner, record id, node name) per node, written to the store."""
    now = time.time_ns() // 1_000_000
    users: list[tuple[str, str]] = []
    for _ in range(tokens):
        owner = "0x" + secrets.token_hex(32)
        staked = store.execute(Call("staking", "stake", {"amount": SUI, "role": 0, "node_name": ""}), owner, now)
        record = str(staked.effects.events[0].contents["record_id"])
        issue = {"record": record, "permissions": ["pods:read", "configmaps:get"], "expires_in_ms": 86_400_000}
        issued = store.execute(Call("k8s_gateway", "issue_seal_token", issue), owner, now)
        users.append((owner, str(issued.effects.events[0].contents["token_id"])))
    machines: list[tuple[str, str, str]] = []
    for i in range(nodes):
        owner = "0x" + secrets.token_hex(32)
        name = f"bench-node-{i}"
        staked = store.execute(Call("staking", "stake", {"amount": 2 * SUI, "role": 1, "node_name": name}), owner, now)
        machines.append((owner, str(staked.effects.events[0].contents["record_id"]), name))
    return users, machines


async def create_resources(kube: KubeClient, users: list[tuple[str, str]], nodes: list[tuple[str, str, str]]) -> float:
    started = time.monotonic()

    async def create(plural: str, body: dict[str, Any]) -> None:
        with contextlib.suppress(Conflict):
            await kube.create(custom_path(plural), body)

    jobs = [
        create(
            "sealtokens",
            {
                "apiVersion": "k3s-daas.io/v1alpha1",
                "kind": "SealToken",
                "metadata": {"name": f"bench-{i}"},
                "spec": {"owner": owner, "tokenObject": token},
            },
        )
        for i, (owner, token) in enumerate(users)
    ]
    jobs += [
        create(
            "stakednodes",
            {
                "apiVersion": "k3s-daas.io/v1alpha1",
                "kind": "StakedNode",
                "metadata": {"name": name},
                "spec": {"nodeName": name, "owner": owner, "stakeRecord": record},
            },
        )
        for owner, record, name in nodes
    ]
    await asyncio.gather(*jobs)
    return time.monotonic() - started


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        values[name] = float(value)
    return values


def chain_queries(metrics: dict[str, float]) -> float:
    return sum(v for k, v in metrics.items() if k.startswith("k3s_daas_chain_request_seconds_count"))


def event_polls(metrics: dict[str, float]) -> float:
    return sum(v for k, v in metrics.items() if k.startswith('k3s_daas_chain_request_seconds_count{operation="events"'))


def active(metrics: dict[str, float], kind: str) -> float:
    return metrics.get(f'k3s_daas_operator_objects{{kind="{kind}",phase="Active"}}', 0.0)


def reconciled(metrics: dict[str, float]) -> float:
    return sum(
        v
        for k, v in metrics.items()
        if k.startswith("k3s_daas_operator_reconcile_seconds_count") and 'result="ok"' in k
    )


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else 0.0


def service_account_kubeconfig(running: cluster.RunningCluster, kubectl: list[str], path: Path) -> Path:
    """The operator's own identity (manifests/base/10-operator-rbac.yaml): a bearer token and least
    privilege, as deployed, rather than the admin client certificate."""
    manifest = str(REPO / "manifests" / "base" / "10-operator-rbac.yaml")
    subprocess.run([*kubectl, "apply", "-f", manifest], check=True, capture_output=True)
    token = subprocess.run(
        [*kubectl, "create", "token", "k3s-daas-operator", "-n", "k3s-daas", "--duration=2h"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    authority = base64.b64encode(running.ca_file.read_bytes()).decode()
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": running.server, "certificate-authority-data": authority}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "operator"}}],
        "current-context": "c",
    }
    write_kubeconfig(path, document)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--changes-per-second", type=float, default=10.0)
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--profile", default="", metavar="FILE", help="run the operator under cProfile, stats to FILE")
    parser.add_argument(
        "--py-spy", default="", metavar="FILE", help="sample the operator's cold start with py-spy (collapsed stacks)"
    )
    parser.add_argument("--skip-steady", action="store_true", help="stop after the cold start (no steady windows)")
    parser.add_argument(
        "--identity",
        choices=["admin", "service-account"],
        default="admin",
        help="the operator's credentials: the admin client certificate, or its ServiceAccount's token and RBAC",
    )
    parser.add_argument(
        "--apiserver-profile", default="", metavar="FILE", help="a CPU profile (pprof) of kube-apiserver's cold start"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="k3s-daas-bench-"))
    settings = Settings.from_env(os.environ)
    progress(f"control plane in {work}")
    profiling = ("--profiling=true",) if args.apiserver_profile else ()
    running = cluster.up(
        settings.control_plane, work / "cp", progress, tie_to_parent=True, extra_apiserver_args=profiling
    )
    localnet = operator = None
    finished = False
    try:
        admin = Keypair.generate(SignatureScheme.ED25519)
        store = Store(work / "chain.sqlite3")
        info = store.initialise(admin.address, time.time_ns() // 1_000_000)
        began = time.monotonic()
        users, machines = chain_state(store, args.tokens, args.nodes)
        progress(f"chain state: {len(users)} tokens, {len(machines)} node stakes in {time.monotonic() - began:.1f}s")
        port = free_loopback_port()
        localnet = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "k3s_daas.cli",
                "localnet",
                "serve",
                f"--db={work / 'chain.sqlite3'}",
                f"--port={port}",
            ],
            stderr=subprocess.DEVNULL,
        )
        kubectl = [str(running.kubectl), f"--kubeconfig={running.admin_kubeconfig}"]
        # The namespace and CRDs only: no admission webhook (nothing serves it here), no Deployment.
        for name in ("00-namespace.yaml", "01-crd-sealtokens.yaml", "01-crd-stakednodes.yaml"):
            subprocess.run(
                [*kubectl, "apply", "-f", str(REPO / "manifests" / "base" / name)], check=True, capture_output=True
            )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd", "--all"], check=True, capture_output=True
        )

        async def setup() -> float:
            kube = KubeClient(load_connection(str(running.admin_kubeconfig)), 32)
            try:
                return await create_resources(kube, users, machines)
            finally:
                await kube.close()

        create_s = asyncio.run(setup())
        progress(f"created {len(users) + len(machines)} resources in {create_s:.1f}s (baseline)")

        operator_kubeconfig = running.admin_kubeconfig
        if args.identity == "service-account":
            operator_kubeconfig = service_account_kubeconfig(running, kubectl, work / "operator.kubeconfig")
        metrics_port = free_loopback_port()
        env = dict(os.environ)
        env.update(
            K3S_DAAS_CHAIN_URL=f"http://127.0.0.1:{port}/graphql",
            K3S_DAAS_PACKAGE_ID=info.deployment.package.package_id,
            K3S_DAAS_METRICS_HOST="127.0.0.1",
        )
        log = (work / "operator.log").open("w")
        pids = {p.name: p.pid for p in running.processes} | {"localnet": localnet.pid}
        cpu_before, requests_before = accounting.cpu_of(pids), accounting.apiserver_requests(kubectl)
        started = time.monotonic()
        operator = subprocess.Popen(
            [
                sys.executable,
                *(["-m", "cProfile", "-o", args.profile] if args.profile else []),
                "-m",
                "k3s_daas.cli",
                "operator",
                f"--kubeconfig={operator_kubeconfig}",
                f"--metrics-port={metrics_port}",
                "--log-level=WARNING",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        pids["operator"] = operator.pid
        spy = None
        if args.py_spy:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(operator.pid),
                    "--format",
                    "raw",
                    "-o",
                    args.py_spy,
                    "--rate",
                    "50",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        apiserver_profile = None
        if args.apiserver_profile:
            with Path(args.apiserver_profile).open("wb") as sink:
                apiserver_profile = subprocess.Popen(
                    [*kubectl, "get", "--raw", "/debug/pprof/profile?seconds=30"], stdout=sink
                )
        baseline_rss = peak_rss = 0.0
        cold_start_s = first_active_s = reconciled_s = None
        objects = len(users) + len(machines)
        while time.monotonic() - started < args.timeout:
            time.sleep(0.5)
            if operator.poll() is not None:
                raise SystemExit(f"operator exited; log: {work / 'operator.log'}")
            rss = rss_mb(operator.pid)
            peak_rss = max(peak_rss, rss)
            try:
                metrics = scrape(metrics_port)
            except OSError:
                continue
            if not baseline_rss:
                baseline_rss = rss
            now = time.monotonic() - started
            if first_active_s is None and active(metrics, "SealToken") + active(metrics, "StakedNode") > 0:
                first_active_s = now
            if cold_start_s is None and (
                active(metrics, "SealToken") >= len(users) and active(metrics, "StakedNode") >= len(machines)
            ):
                cold_start_s = now
            # Active is written before a node's join token Secret is created: the cold start's
            # work is done once every object has been reconciled.
            if reconciled_s is None and reconciled(metrics) >= objects:
                reconciled_s = now
            if cold_start_s is not None and reconciled_s is not None:
                break
        progress(f"all Active after {cold_start_s}s, all reconciled after {reconciled_s}s; peak RSS {peak_rss:.0f} MB")
        cold_cpu = accounting.cpu_delta(cpu_before, accounting.cpu_of(pids))
        cold_requests = accounting.request_delta(requests_before, accounting.apiserver_requests(kubectl))
        progress(f"CPU seconds during the cold start: {cold_cpu}")
        progress(f"API requests during the cold start: {cold_requests}")
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait(timeout=60)
        if apiserver_profile is not None:
            apiserver_profile.wait(timeout=60)
        cold = {
            "tokens": len(users),
            "nodes": len(machines),
            "cold_start_s": cold_start_s,
            "first_active_s": first_active_s,
            "all_reconciled_s": reconciled_s,
            "baseline_create_s": create_s,
            "cold_start_over_create": None if cold_start_s is None else cold_start_s / create_s,
            "peak_rss_mb": peak_rss,
            "baseline_rss_mb": baseline_rss,
            "cold_start_cpu_s": cold_cpu,
            "cold_start_requests": cold_requests,
        }
        if args.skip_steady:
            print(json.dumps(cold, indent=2))
            finished = True
            return 0
        # Steady state starts once the event history (a first start reads it all) is applied.
        history = 2 * len(users) + len(machines)
        while (
            sum(v for k, v in scrape(metrics_port).items() if k.startswith("k3s_daas_operator_chain_events_total"))
            < history
        ):
            time.sleep(1)
        caught_up_s = time.monotonic() - started
        progress(f"event history applied after {caught_up_s:.1f}s")
        time.sleep(5)

        def window(changes_per_s: float) -> dict[str, float]:
            before, t0 = scrape(metrics_port), time.monotonic()
            done = 0
            while time.monotonic() - t0 < args.steady_seconds:
                due = int((time.monotonic() - t0) * changes_per_s)
                while done < due and done < len(users):
                    owner, token = users[-1 - done]
                    store.execute(
                        Call("k8s_gateway", "revoke_seal_token", {"token_id": token}),
                        owner,
                        time.time_ns() // 1_000_000,
                    )
                    done += 1
                time.sleep(0.02)
            after, minutes = scrape(metrics_port), (time.monotonic() - t0) / 60
            return {
                "chain_queries_per_minute": (chain_queries(after) - chain_queries(before)) / minutes,
                "event_polls_per_minute": (event_polls(after) - event_polls(before)) / minutes,
                "changes": done,
            }

        quiet = window(0.0)
        busy = window(args.changes_per_second)
        steady_rss = rss_mb(operator.pid)
        result = {
            **cold,
            "history_applied_s": caught_up_s,
            "steady_rss_mb": steady_rss,
            "steady_no_changes": quiet,
            "steady_with_changes": busy,
            "extra_queries_per_change": (busy["chain_queries_per_minute"] - busy["event_polls_per_minute"])
            / max(1.0, busy["changes"] / (args.steady_seconds / 60)),
            "queries_no_changes_over_polls": quiet["chain_queries_per_minute"]
            / max(1.0, quiet["event_polls_per_minute"]),
        }
        print(json.dumps(result, indent=2))
        finished = True
        return 0
    finally:
        for process in (operator, localnet):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        cluster.down(work / "cp")
        if finished:
            # About 150 MB (chain store, etcd): kept only when a run fails, for its operator.log.
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
