"""`k3s-daas up`: the whole stack on embedded defaults, in the foreground, until interrupted.

Today it runs the loopback control plane; localnet, the webhook and the operator join it as they land.
Everything it starts is stopped when it exits, however it exits.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.commands import default_state_dir, progress
from k3s_daas.controlplane.kubeconfig import write_private
from k3s_daas.controlplane.processes import is_running
from k3s_daas.errors import UserError
from k3s_daas.settings import Settings

WATCH_INTERVAL_S = 1.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("up", help="run the whole stack locally, in the foreground, until Ctrl-C")
    parser.add_argument("--state-dir", type=Path, default=default_state_dir(), help="default: %(default)s")
    parser.set_defaults(run=run)


def env_file(running: cluster.RunningCluster) -> str:
    """What `DIR/env` holds: a file a POSIX shell can source."""
    variables = {
        "KUBECONFIG": str(running.admin_kubeconfig),
        "K3S_DAAS_SERVER": running.server,
        "K3S_DAAS_CA": str(running.ca_file),
        "K3S_DAAS_KUBECTL": str(running.kubectl),
    }
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, settings: Settings) -> int:
    state_dir: Path = args.state_dir.resolve()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        running = cluster.up(settings.control_plane, state_dir, progress, tie_to_parent=True)
        write_private(state_dir / "env", env_file(running).encode())
        print(f"ready. Try:\n  source {state_dir / 'env'}", flush=True)
        print(f"  {running.kubectl} get namespaces", flush=True)
        print("  Ctrl-C here stops everything this command started", flush=True)
        while True:
            stopped = [p.name for p in running.processes if not is_running(p)]
            if stopped:
                raise UserError(f"{', '.join(stopped)} stopped unexpectedly; logs in {state_dir / 'logs'}")
            time.sleep(WATCH_INTERVAL_S)
    except KeyboardInterrupt:
        print("stopping ...", file=sys.stderr, flush=True)
        return 0
    finally:
        cluster.down(state_dir)
        (state_dir / "env").unlink(missing_ok=True)
