"""`k3s-daas bench soak`: the authenticator and admission paths at half their measured maximum, for
minutes, while tokens are issued and revoked and nodes slashed on localnet (issue 8, point 9).

The whole stack runs as `k3s-daas up` runs it (control plane, localnet, webhook, operator). First the
maximum of /authenticate (cached Seal tokens) and of /validate (Seal users' writes) is measured with the
closed-loop generator of the webhook benchmarks; then both are driven at 50 % of it, paced, while a churn
loop stakes, issues, revokes and slashes, and deletes each retired SealToken or StakedNode (as its user
or an admin would: a cluster that only grows would make steady-state memory unmeasurable). Every answer
is checked against what it should have been at the moment it was sent (k3s_daas.soak.judge), resident
memory of the webhook and the operator (with their children) is sampled, and each revocation or slash
is timed to the first denied write. The report gives the figures; the exit status is 1 on any wrong
decision or error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import random
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from k3s_daas import stack as installation
from k3s_daas.benchmarking import add_benchmark, start_bench_stack
from k3s_daas.controlplane.commands import progress
from k3s_daas.controlplane.processes import ManagedProcess
from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.sealtoken import mint
from k3s_daas.settings import Settings
from k3s_daas.soak.judge import Answer, Subject, growth, judge, percentiles_ms
from k3s_daas.stake import Role
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas.up import Stack
from k3s_daas_webhook.bench import client as load
from k3s_daas_webhook.bench.tokens import review_body

BUDGET_S: Final = 1.0
"""DESIGN.md: chain event -> writes denied within 1 s (p99). Past it an allowed answer is wrong."""
PERMISSIONS: Final = ["configmaps:write", "pods:read"]
CONNECTIONS: Final = 4
"""Of the closed-loop generator measuring the maximum."""
PACED_PER_CONNECTION: Final = 400.0
"""Requests/s one paced connection is asked for: each waits for its answer, so a connection can carry
about 1/latency (~1,600/s at the 0.6 ms median); 400 leaves room for the tail and for the churn."""
STABLE_USERS: Final = 4
STABLE_NODES: Final = 2
TOKEN_REFRESH_S: Final = 300.0


def register(what: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "authn + admission at 50%% of their maximum for minutes, with chain churn: wrong decisions, memory"
    parser = add_benchmark(what, "soak", help_text, __doc__, run)
    parser.add_argument("--minutes", type=float, default=30.0, help="soak duration (default %(default)s)")
    parser.add_argument("--load", type=float, default=0.5, help="fraction of the measured maximum (default 0.5)")
    parser.add_argument("--churn-interval", type=float, default=4.0, help="seconds between churn steps")
    parser.add_argument("--seed", type=int, default=9, help="churn and traffic mix (default %(default)s)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.minutes <= 0 or not 0 < args.load <= 1:
        raise SystemExit("k3s-daas: error: --minutes must be positive and --load in (0, 1]")
    with tempfile.TemporaryDirectory(prefix="k3s-daas-soak-") as directory, contextlib.ExitStack() as exits:
        stack = start_bench_stack(settings, Path(directory), exits)
        figures = asyncio.run(Soak(stack, args).run())
    print_report(figures)
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0 if figures["wrong_decisions"] == 0 and figures["errors"] == 0 else 1


class Soak:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack = stack
        self.args = args
        self.chain = LocalnetClient(stack.chain_url)
        self.kubectl = installation.Kubectl(stack.cluster.kubectl, stack.cluster.admin_kubeconfig)
        self.context = ssl.create_default_context(cafile=str(stack.webhook.ca_file))
        self.port = stack.webhook.port
        self.rng = random.Random(args.seed)  # noqa: S311 - traffic mix, not security
        self.subjects: dict[str, Subject] = {}
        self.keys: dict[str, Keypair] = {}
        self.live: list[str] = []
        self.answers: list[Answer] = []
        self.latency_to_denial: list[float] = []
        self.rss: dict[str, list[int]] = {"webhook": [], "operator": []}
        self.churn = {"issued": 0, "revoked": 0, "nodes_staked": 0, "slashed": 0, "deleted": 0}
        self._tokens: dict[str, tuple[float, bytes]] = {}
        self._token_ids: dict[str, str] = {}
        self._records: dict[str, str] = {}
        self._resources: dict[str, tuple[str, str]] = {}
        """Subject -> the (kind, name) of its SealToken or StakedNode, deleted once the subject is retired."""

    # --- subjects ------------------------------------------------------------------------------

    async def _user(self, churn: bool) -> str:
        key = Keypair.generate(SignatureScheme.ED25519)
        stake = {"amount": Role.USER.minimum_mist + 100_000_000, "role": int(Role.USER), "node_name": ""}
        record = (await self._call(key, "staking", "stake", stake))["events"][0]["parsedJson"]["record_id"]
        issue = {"record": record, "permissions": PERMISSIONS, "expires_in_ms": 7_200_000}
        token = (await self._call(key, "k8s_gateway", "issue_seal_token", issue))["events"][0]["parsedJson"]
        name = f"seal-{str(token['token_id']).removeprefix('0x')[:40]}"
        await self._wait_phase("sealtoken", name, "Active")
        self.keys[key.address] = key
        self._resources[key.address] = ("sealtoken", name)
        self.subjects[key.address] = Subject(key.address, "user", time.monotonic(), churn=churn)
        self._token_ids[key.address] = str(token["token_id"])
        self.churn["issued"] += churn
        return key.address

    async def _node(self, churn: bool) -> str:
        key = Keypair.generate(SignatureScheme.ED25519)
        node = f"soak-{key.address[2:14]}"
        stake = {"amount": Role.NODE.minimum_mist, "role": int(Role.NODE), "node_name": node}
        record = (await self._call(key, "staking", "stake", stake))["events"][0]["parsedJson"]["record_id"]
        resource = f"{node[:46]}-{str(record).removeprefix('0x')[:16]}"
        await self._wait_phase("stakednode", resource, "Active")
        self._resources[node] = ("stakednode", resource)
        self.subjects[node] = Subject(node, "node", time.monotonic(), churn=churn)
        self._records[node] = str(record)
        self.churn["nodes_staked"] += churn
        return node

    async def _call(self, key: Keypair, module: str, function: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.chain.call, key, module, function, arguments)

    async def _wait_phase(self, kind: str, name: str, phase: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(installation.StackError):  # not created from the event yet
                found = await asyncio.to_thread(self.kubectl, "get", kind, name, "-o", "jsonpath={.status.phase}")
                if found.strip() == phase:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{kind} {name} did not become {phase} in {timeout_s} s")

    # --- requests ------------------------------------------------------------------------------

    def _request(self, subject: str, path: str) -> bytes:
        who = self.subjects[subject]
        if who.kind == "node":
            return load.encode_request("/validate", _node_update(subject))
        if path == "/authenticate":
            made, body = self._tokens.get(subject, (0.0, b""))
            if time.monotonic() - made > TOKEN_REFRESH_S:
                key = self.keys[subject]
                token = mint.sign(key, mint.api_claims(key.address, self.stack.cluster_id, int(time.time()), 600))
                body = load.encode_request("/authenticate", review_body(token))
                self._tokens[subject] = (time.monotonic(), body)
            return body
        return load.encode_request("/validate", _configmap_write(subject))

    async def _send(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, subject: str, path: str) -> None:
        request = self._request(subject, path)
        sent_at = time.monotonic()
        status, body = 0, b""
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lowered = head.lower()
            start = lowered.find(b"content-length:")
            body = await reader.readexactly(int(lowered[start + 15 : lowered.find(b"\r\n", start)]))
            status = int(head.split(b" ", 2)[1])
        finally:
            allowed = b'"authenticated":true' in body or b'"allowed":true' in body
            kind = "/validate" if self.subjects[subject].kind == "node" else path
            self.answers.append(Answer(subject, kind, sent_at, time.monotonic() - sent_at, status, allowed))

    async def _paced(self, rate: float, until: float, path: str) -> None:
        """One keep-alive connection at ``rate``/s to ``path``, over the live subjects (users only for
        /authenticate; for /validate users' writes and nodes' Node updates)."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1"
        )
        interval, next_send = 1.0 / rate, time.monotonic()
        try:
            while (now := time.monotonic()) < until:
                if next_send > now:
                    await asyncio.sleep(next_send - now)
                live = self.live if path == "/validate" else [s for s in self.live if self.subjects[s].kind == "user"]
                subject = self.rng.choice(live)
                try:
                    await self._send(reader, writer, subject, path)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    writer.close()
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1"
                    )
                next_send = max(next_send + interval, time.monotonic() - 1.0)
        finally:
            writer.close()

    async def _maximum(self, path: str) -> float:
        subjects = [s for s in self.live if self.subjects[s].kind == "user"]
        bodies = [self._request(s, path) for s in subjects]
        marker = b'"authenticated":true' if path == "/authenticate" else b'"allowed":true'
        results = await load.closed_loop(
            self.port, self.context, _cycle(bodies), connections=CONNECTIONS, duration_s=5.0, marker=marker
        )
        if results.errors or results.other:
            raise RuntimeError(f"{path}: {results.errors} errors, {results.other} unexpected answers at maximum load")
        return results.throughput

    # --- churn ---------------------------------------------------------------------------------

    async def _churn(self, until: float) -> None:
        step = 0
        while time.monotonic() < until - 10:
            step += 1
            if step % 4 == 0:
                node = await self._node(churn=True)
                self.live.append(node)
                await asyncio.sleep(self.rng.uniform(1, 3))
                cap = await asyncio.to_thread(self.chain.admin_cap, self.stack.admin.address)
                slash = {"cap": cap, "record_id": self._records[node], "amount": 100_000_000, "reason": "soak"}
                await self._call(self.stack.admin, "staking", "slash", slash)
                await self._ended(node)
                self.churn["slashed"] += 1
            else:
                user = await self._user(churn=True)
                self.live.append(user)
                await asyncio.sleep(self.rng.uniform(1, 3))
                await self._call(
                    self.keys[user], "k8s_gateway", "revoke_seal_token", {"token_id": self._token_ids[user]}
                )
                await self._ended(user)
                self.churn["revoked"] += 1
            await asyncio.sleep(self.args.churn_interval)

    async def _ended(self, subject: str) -> None:
        """The chain event is served (its call returned): time it to the first denied write; keep the
        subject in the traffic a little longer, so denials are checked too, then drop it."""
        ended = time.monotonic()
        self.subjects[subject].ended_at = ended
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1"
        )
        try:
            while time.monotonic() - ended < 30:
                before = len(self.answers)
                await self._send(reader, writer, subject, "/validate")
                if not self.answers[before].allowed:
                    self.latency_to_denial.append(time.monotonic() - ended)
                    break
                await asyncio.sleep(0.01)
        finally:
            writer.close()
        await asyncio.sleep(2 * BUDGET_S)
        self.live.remove(subject)
        await self._retire(subject)

    async def _retire(self, subject: str) -> None:
        """Delete the subject's resource once it is revoked or slashed, as its user or an admin would:
        without it the cluster only grows, and steady-state memory could not be told from a leak."""
        kind, name = self._resources.pop(subject)
        await asyncio.to_thread(self.kubectl, "delete", kind, name, "--wait=false")
        self.churn["deleted"] += 1

    async def _sample_memory(self, until: float) -> None:
        pids = {p.name: p for p in self.stack.processes if p.name in self.rss}
        while time.monotonic() < until:
            for name, process in pids.items():
                self.rss[name].append(_tree_rss_kib(process))
            await asyncio.sleep(5)

    # --- the run -------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        progress("staking the stable users and nodes ...")
        for _ in range(STABLE_USERS):
            self.live.append(await self._user(churn=False))
        for _ in range(STABLE_NODES):
            self.live.append(await self._node(churn=False))
        progress("measuring the maximum of /authenticate and /validate ...")
        maximum = {"/authenticate": await self._maximum("/authenticate"), "/validate": await self._maximum("/validate")}
        rates = {path: self.args.load * value for path, value in maximum.items()}
        duration = self.args.minutes * 60
        shown = ", ".join(f"{path} {rate:.0f}/s" for path, rate in rates.items())
        progress(f"soaking for {duration:.0f} s at {shown}, with chain churn ...")
        started = time.monotonic()
        until = started + duration
        jobs = [
            self._paced(rate / connections, until, path)
            for path, rate in rates.items()
            for connections in [math.ceil(rate / PACED_PER_CONNECTION)]
            for _ in range(connections)
        ]
        await asyncio.gather(*jobs, self._churn(until), self._sample_memory(until))
        elapsed = time.monotonic() - started
        verdicts = judge(self.answers, self.subjects, BUDGET_S)
        latencies = {p: [a.latency_s for a in self.answers if a.path == p and a.status == 200] for p in maximum}
        return {
            "duration_s": round(elapsed, 1),
            "maximum_per_s": {p: round(v) for p, v in maximum.items()},
            "target_per_s": {p: round(v) for p, v in rates.items()},
            "achieved_per_s": {p: round(n / elapsed) for p, n in verdicts.by_path.items()},
            "achieved_of_target": {p: round(n / elapsed / rates[p], 3) for p, n in verdicts.by_path.items()},
            "answers": verdicts.by_path,
            "wrong_decisions": len(verdicts.wrong),
            "wrong_examples": [dataclasses.asdict(a) for a in verdicts.wrong[:5]],
            "errors": len(verdicts.errors),
            "in_revocation_window": verdicts.in_window,
            "latency": {p: percentiles_ms(v) for p, v in latencies.items()},
            "revocation_to_denied_write": percentiles_ms(self.latency_to_denial),
            "revocations_over_budget": sum(1 for s in self.latency_to_denial if s > BUDGET_S),
            "churn": self.churn,
            "rss_kib": {n: {"first": s[0], "last": s[-1], "max": max(s)} for n, s in self.rss.items() if s},
            "rss_growth_pct": {n: _pct(growth(s)) for n, s in self.rss.items()},
        }


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _cycle(bodies: list[bytes]) -> Any:
    while True:
        yield from bodies


def _tree_rss_kib(process: ManagedProcess) -> int:
    """Resident memory of a process and its descendants (the webhook's verify workers)."""
    total, pending = 0, [process.pid]
    while pending:
        pid = pending.pop()
        proc = Path("/proc") / str(pid)
        with contextlib.suppress(OSError, ValueError):
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in (proc / "task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
    return total


def _configmap_write(address: str) -> bytes:
    request = {
        "uid": f"soak-{time.monotonic_ns()}",
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "requestKind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "name": "soak",
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": f"sui:{address}", "groups": ["k3s-daas:stakers", "system:authenticated"]},
        "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "soak", "namespace": "default"}},
        "oldObject": None,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


def _node_update(node: str) -> bytes:
    obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}
    request = {
        "uid": f"soak-{time.monotonic_ns()}",
        "kind": {"group": "", "version": "v1", "kind": "Node"},
        "resource": {"group": "", "version": "v1", "resource": "nodes"},
        "requestKind": {"group": "", "version": "v1", "kind": "Node"},
        "name": node,
        "operation": "UPDATE",
        "userInfo": {"username": f"system:node:{node}", "groups": ["system:nodes", "system:authenticated"]},
        "object": obj,
        "oldObject": obj,
        "dryRun": False,
        "options": {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


def print_report(figures: dict[str, Any]) -> None:
    print("k3s-daas soak")
    print(f"  duration                {figures['duration_s']} s")
    print(f"  maximum (closed loop)   {figures['maximum_per_s']} requests/s")
    print(f"  target (50 %)           {figures['target_per_s']} requests/s")
    print(f"  achieved                {figures['achieved_per_s']} requests/s, answers {figures['answers']}")
    print(f"  achieved / target       {figures['achieved_of_target']}")
    print(f"  wrong decisions         {figures['wrong_decisions']}   errors {figures['errors']}")
    print(f"  in revocation window    {figures['in_revocation_window']} answers (either answer right)")
    for path, row in figures["latency"].items():
        print(f"  latency {path:<15} {row}")
    over = f"{figures['revocations_over_budget']} over {BUDGET_S} s"
    print(f"  revocation -> denied    {figures['revocation_to_denied_write']} ({over})")
    print(f"  churn                   {figures['churn']}")
    print(f"  resident memory (KiB)   {figures['rss_kib']}")
    print(f"  memory growth           {figures['rss_growth_pct']} %")
