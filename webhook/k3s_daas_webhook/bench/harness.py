"""What the webhook benchmarks share: TLS files, the server child process, CPU accounting, and
alternating slices of workloads (so both see the same conditions on a shared machine)."""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

from k3s_daas.controlplane import pki
from k3s_daas.controlplane.kubeconfig import write_private
from k3s_daas.errors import UserError
from k3s_daas_webhook.bench import client


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """(CA, serving certificate, key) files for 127.0.0.1."""
    ca = pki.new_ca("bench-ca")
    serving = pki.issue(ca, "bench", server=True, ip_addresses=(ipaddress.IPv4Address("127.0.0.1"),))
    paths = directory / "ca.crt", directory / "tls.crt", directory / "tls.key"
    for path, content in zip(paths, (ca.cert_pem, serving.cert_pem, serving.key_pem), strict=True):
        write_private(path, content)
    return paths


def start_server(directory: Path, config: dict[str, Any]) -> tuple[subprocess.Popen[str], int]:
    """``python -m k3s_daas_webhook.bench.server`` with ``config``; returns once it listens."""
    path = directory / "server.json"
    path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "k3s_daas_webhook.bench.server", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ready "):
        process.kill()
        raise UserError("the benchmark server did not start")
    return process, int(line.split()[1])


def cycle(bodies: list[bytes], path: str) -> Iterator[bytes]:
    return itertools.cycle([client.encode_request(path, body) for body in bodies])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process and its verification workers (its children), from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that just ended
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def timed(pid: int, run: Awaitable[client.Results]) -> client.Results:
    before, client_before = cpu_seconds(pid), time.process_time()
    result = await run
    result.server_cpu_s = cpu_seconds(pid) - before
    result.client_cpu_s = time.process_time() - client_before
    return result


async def alternate(
    port: int,
    context: ssl.SSLContext,
    args: argparse.Namespace,
    workloads: dict[str, Iterator[bytes]],
    *,
    paced: bool,
    rate: float,
    marker: bytes = client.AUTHENTICATED,
) -> tuple[dict[str, client.Results], list[float]]:
    """Run the workloads in alternating slices, ``--rounds`` times each.

    Other processes on a shared 2-core machine change how much CPU the server gets from one second
    to the next; alternating short slices exposes the workloads to the same conditions, and the
    median of per-round ratios (second workload / first) is robust to a disturbed round.
    """
    totals: dict[str, client.Results] = {}
    ratios: list[float] = []
    slice_s = args.duration / args.rounds
    for _ in range(args.rounds):
        rates = []
        for name, requests in workloads.items():
            if paced:
                run = client.paced(port, context, requests, rate=rate, duration_s=slice_s, marker=marker)
            else:
                run = client.closed_loop(
                    port, context, requests, connections=args.connections, duration_s=slice_s, marker=marker
                )
            result = await timed(args.server_pid, run)
            rates.append(result.throughput)
            if name in totals:
                totals[name].merge(result)
            else:
                totals[name] = result
        ratios.append(rates[-1] / rates[0])
    return totals, ratios
