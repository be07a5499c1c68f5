"""`k3s-daas cluster up|down`: the loopback control plane as a command, for tests and people."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from k3s_daas.controlplane import cluster
from k3s_daas.settings import Settings


def default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "k3s-daas"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="start or stop a real kube-apiserver + kube-controller-manager + etcd on loopback",
        description="A real Kubernetes control plane on 127.0.0.1, built from the Go modules k3s embeds.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("up", help="start it and return once /readyz is ok")
    start.add_argument("--state-dir", type=Path, default=default_state_dir(), help="default: %(default)s")
    start.add_argument(
        "--apiserver-arg",
        action="append",
        default=[],
        metavar="--FLAG=VALUE",
        help="extra kube-apiserver flag, passed through verbatim (repeatable)",
    )
    start.set_defaults(run=run_up)
    finish = actions.add_parser("down", help="stop exactly the processes `up` started there")
    finish.add_argument("--state-dir", type=Path, default=default_state_dir(), help="default: %(default)s")
    finish.set_defaults(run=run_down)


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    running = cluster.up(
        settings.control_plane,
        args.state_dir,
        progress,
        tie_to_parent=False,
        extra_apiserver_args=tuple(args.apiserver_arg),
    )
    print(f"export KUBECONFIG={running.admin_kubeconfig}")
    print(f"# kubectl {running.version}: {running.kubectl}")
    return 0


def run_down(args: argparse.Namespace, settings: Settings) -> int:
    stopped = cluster.down(args.state_dir)
    progress(f"stopped: {', '.join(stopped)}" if stopped else f"nothing running in {args.state_dir}")
    return 0
