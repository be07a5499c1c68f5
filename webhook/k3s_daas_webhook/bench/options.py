"""Flags of `k3s-daas bench authn` and `bench admission` (kept apart so registering the CLI imports
nothing heavy)."""

from __future__ import annotations

import argparse
import os

from k3s_daas.settings import default_verify_workers


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration", type=float, default=5.0, metavar="SECONDS", help="per phase (default %(default)s)"
    )
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default %(default)s)")
    parser.add_argument(
        "--scheme",
        action="append",
        choices=["ed25519", "secp256k1", "secp256r1"],
        default=None,
        help="key scheme(s) for the token phases (repeatable; default all three)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices of (a) and (b) (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=1.0, metavar="SECONDS", help="unmeasured run before each phase")
    parser.add_argument(
        "--verify-workers",
        type=int,
        default=default_verify_workers(os.cpu_count()),
        help="server verification worker processes; 0 = inline (default %(default)s: the server's default)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def add_admission_options(parser: argparse.ArgumentParser) -> None:
    """Flags of `k3s-daas bench admission`."""
    parser.add_argument(
        "--duration", type=float, default=5.0, metavar="SECONDS", help="per phase (default %(default)s)"
    )
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices of each phase (default %(default)s)")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced requests per second (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=1.0, metavar="SECONDS", help="unmeasured run before measuring")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
