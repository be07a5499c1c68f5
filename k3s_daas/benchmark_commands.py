"""`k3s-daas bench`: benchmarks, not tests. Each prints its figures next to a baseline measured in
the same run (docs: README, "Benchmarks")."""

from __future__ import annotations

import argparse

from k3s_daas import e2e_bench
from k3s_daas.onchain_requests import bench as request_bench
from k3s_daas.soak import run as soak
from k3s_daas_webhook.commands import register_benchmarks


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks (not tests)")
    what = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    register_benchmarks(what)
    e2e_bench.register(what)
    request_bench.register(what)
    soak.register(what)
