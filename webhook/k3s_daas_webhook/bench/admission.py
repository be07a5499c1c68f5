"""`k3s-daas bench admission`: AdmissionReview decisions over HTTPS against a same-run no-op baseline.

One run, one server process (the real stack: aiohttp, TLS, metrics, the admission indexes of a busy
cluster: 10,000 SealTokens, 1,000 StakedNodes, 200 namespaces), two workloads over HTTPS keep-alive
with the same request bodies:

(a) POST /noop: reads the body, answers a constant: the cost of the server stack itself;
(b) POST /validate: parse, decide, answer (the mix in bench/reviews.py: allowed and denied writes
    of Seal users, kubelet status updates, self-service SealTokens).

Each is measured saturated (N connections, closed loop: throughput) and paced (one connection at
--rate requests/s: latency without queueing), in alternating slices. Budget (DESIGN.md):
AdmissionReview p99 <= 2 ms at 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import ssl
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k3s_daas_webhook.bench import client, reviews
from k3s_daas_webhook.bench.harness import alternate, cycle, make_tls, start_server

NOOP = "(a) no-op handler"
VALIDATE = "(b) /validate"
TRAFFIC = 4_000  # distinct reviews, cycled
ANSWERED = b'"uid"'  # every AdmissionReview answer carries the uid; the no-op's does not
ALLOWED = b'"allowed":true'


@dataclass
class Measured:
    saturated: dict[str, client.Results]
    paced: dict[str, client.Results]
    throughput_ratios: list[float]


def _ms(value: float) -> float:
    return round(value * 1000, 3)


def _row(name: str, measured: Measured) -> dict[str, Any]:
    loaded, calm = measured.saturated[name], measured.paced[name]
    return {
        "workload": name,
        "requests": loaded.count,
        "throughput_per_s": round(loaded.throughput),
        "saturated_p50_ms": _ms(loaded.percentile(0.50)),
        "saturated_p99_ms": _ms(loaded.percentile(0.99)),
        "paced_p50_ms": _ms(calm.percentile(0.50)),
        "paced_p99_ms": _ms(calm.percentile(0.99)),
        "server_cpu_us_per_request": round(loaded.server_cpu_us_per_request, 1),
        "errors": loaded.errors + calm.errors + (0 if name == NOOP else loaded.other + calm.other),
    }


async def _measure(port: int, ca: Path, args: argparse.Namespace, bodies: list[bytes]) -> Measured:
    context = ssl.create_default_context(cafile=str(ca))
    workloads = {NOOP: cycle(bodies, "/noop"), VALIDATE: cycle(bodies, "/validate")}
    if args.warmup > 0:
        for requests in workloads.values():
            await client.closed_loop(port, context, requests, connections=args.connections, duration_s=args.warmup)
    saturated, ratios = await alternate(port, context, args, workloads, paced=False, rate=args.rate, marker=ANSWERED)
    paced, _ = await alternate(port, context, args, workloads, paced=True, rate=args.rate, marker=ANSWERED)
    return Measured(saturated, paced, ratios)


def _decisions(port: int, ca: Path, bodies: list[bytes]) -> dict[str, int]:
    """How the mix is decided (one pass, unmeasured): allowed and denied answers."""

    async def one_pass() -> client.Results:
        context = ssl.create_default_context(cafile=str(ca))
        requests = iter([client.encode_request("/validate", body) for body in bodies])
        return await client.closed_loop(port, context, requests, connections=4, duration_s=60, marker=ALLOWED)

    result = asyncio.run(one_pass())
    return {"allowed": result.authenticated, "denied": result.other, "errors": result.errors}


def _handler_buckets(port: int, ca: Path) -> dict[float, float]:
    """Share of /validate requests (allowed and denied) the handler answered within each histogram
    bucket, from the server's own /metrics: the time inside the server, without TLS and queueing."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, context=ssl.create_default_context(cafile=str(ca)), timeout=10
    )
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    counts: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith("k3s_daas_admission_request_duration_seconds_bucket{"):
            continue
        labels, value = line.rsplit(" ", 1)
        if 'decision="allowed"' not in labels and 'decision="denied"' not in labels:
            continue
        bound = labels.split('le="', 1)[1].split('"', 1)[0]
        key = float("inf") if bound == "+Inf" else float(bound)
        counts[key] = counts.get(key, 0.0) + float(value)
    total = counts.get(float("inf"), 0.0)
    return {bound: count / total for bound, count in sorted(counts.items())} if total else {}


def _verdicts(rows: dict[str, dict[str, Any]], measured: Measured, rate: float) -> list[str]:
    noop, validate = rows[NOOP], rows[VALIDATE]
    p99 = validate["paced_p99_ms"]
    ratio = statistics.median(measured.throughput_ratios)
    lines = [
        f"p99 <= 2 ms at {rate:.0f} requests/s (paced): {p99:.3f} ms [{'PASS' if p99 <= 2 else 'MISS'}]",
        f"throughput /validate / no-op: {ratio:.0%} (median of {len(measured.throughput_ratios)} alternating rounds: "
        f"{', '.join(f'{r:.0%}' for r in measured.throughput_ratios)})",
        f"latency /validate / no-op (paced): p50 x{validate['paced_p50_ms'] / noop['paced_p50_ms']:.2f}, "
        f"p99 x{validate['paced_p99_ms'] / noop['paced_p99_ms']:.2f}",
        f"server CPU per request: /validate {validate['server_cpu_us_per_request']:.0f} us, "
        f"no-op {noop['server_cpu_us_per_request']:.0f} us",
    ]
    return lines


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="k3s-daas-bench-admission-") as temporary:
        directory = Path(temporary)
        ca, cert, key = make_tls(directory)
        world = reviews.world()
        files = {}
        for name, items in (
            ("index", world.sealtokens),
            ("stakednodes", world.stakednodes),
            ("namespaces", world.namespaces),
        ):
            files[name] = directory / f"{name}.json"
            files[name].write_text(json.dumps(items))
        bodies = reviews.traffic(world, TRAFFIC)
        config = {
            "cert": str(cert),
            "key": str(key),
            "cluster_id": "bench",
            "verify_workers": 0,
            "cache_size": 1000,
            **{name: str(path) for name, path in files.items()},
        }
        server, port = start_server(directory, config)
        args.server_pid = server.pid
        try:
            decisions = _decisions(port, ca, bodies)
            measured = asyncio.run(_measure(port, ca, args, bodies))
            handler = _handler_buckets(port, ca)
        finally:
            server.terminate()
            server.wait(10)
    rows = {name: _row(name, measured) for name in (NOOP, VALIDATE)}
    verdicts = _verdicts(rows, measured, args.rate)
    within = ", ".join(f"{share:.2%} <= {bound * 1e6:.0f} us" for bound, share in handler.items() if bound <= 0.002)
    verdicts.append(f"inside the server (its own histogram, every /validate request): {within}")
    sizes = sorted(len(body) for body in bodies)
    if args.json:
        document = {"rows": list(rows.values()), "mix": decisions, "budgets": verdicts, "cpus": os.cpu_count()}
        print(json.dumps(document, indent=2))
        return 0
    print(
        f"AdmissionReview benchmark: HTTPS keep-alive, {args.connections} connections saturated; paced = 1 connection "
        f"at {args.rate:.0f}/s; {os.cpu_count()} CPUs shared by client and server; {len(bodies)} distinct reviews "
        f"(median {sizes[len(sizes) // 2]} bytes), decided {decisions['allowed']} allowed / {decisions['denied']} "
        f"denied / {decisions['errors']} errors"
    )
    columns = (
        ("requests", 9), ("req/s", 9), ("sat p50", 9), ("sat p99", 9), ("paced p50", 11), ("paced p99", 11),
        ("cpu us/req", 12), ("errors", 8),
    )  # fmt: skip
    keys = (
        "requests", "throughput_per_s", "saturated_p50_ms", "saturated_p99_ms", "paced_p50_ms", "paced_p99_ms",
        "server_cpu_us_per_request", "errors",
    )  # fmt: skip
    print(f"{'workload':<22}" + "".join(f"{name:>{width}}" for name, width in columns))
    for row in rows.values():
        cells = "".join(
            f"{row[key]:>{width}.3f}" if isinstance(row[key], float) and "ms" in key else f"{row[key]:>{width}}"
            for key, (_, width) in zip(keys, columns, strict=True)
        )
        print(f"{row['workload']:<22}{cells}")
    print("latencies in ms; budget and ratios:")
    for line in verdicts:
        print(f"  {line}")
    return 0
