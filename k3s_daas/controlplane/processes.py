"""Start and stop the control-plane processes, by pid, with no orphans.

Each process gets its own session (so a terminal's Ctrl-C reaches only its supervisor) and, when tied
to its parent, the kernel's parent-death signal, so a crashed or killed test session cannot leave an
API server behind. Stopping checks ``/proc/<pid>/cmdline`` against a marker (the state directory) so a
recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, Popen

from k3s_daas.errors import UserError

PR_SET_PDEATHSIG = 1


class StartFailed(UserError):
    """A process did not start or did not become ready; the message carries its log's tail."""


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    pid: int
    marker: str
    """A string that appears in the process's command line (the state directory)."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    name: str,
    argv: list[str],
    log_path: Path,
    marker: str,
    *,
    tie_to_parent: bool,
    environment: Mapping[str, str] | None = None,
) -> ManagedProcess:
    if marker not in " ".join(argv):
        raise ValueError(f"{name}: the marker must appear in the command line so stop() can verify the pid")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        child = Popen(
            argv,
            stdin=DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=environment,
            preexec_fn=_die_with_parent if tie_to_parent else None,
        )
    return ManagedProcess(name, child.pid, marker)


def is_running(process: ManagedProcess) -> bool:
    """True when the pid is alive, not a zombie, and still the process we started."""
    proc = Path("/proc") / str(process.pid)
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and process.marker in cmdline


def exit_description(process: ManagedProcess) -> str:
    """How a child of ours ended ("exit 1", "killed by SIGKILL"), reaping it; "" if not our child."""
    try:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
    except ChildProcessError:
        return ""
    if pid == 0:
        return ""
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def stop(processes: list[ManagedProcess], grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; returns when none of them runs any more."""
    running = [p for p in processes if is_running(p)]
    for process in running:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while running and time.monotonic() < deadline:
        _reap(running)
        running = [p for p in running if is_running(p)]
        if running:
            time.sleep(0.05)
    for process in running:
        _signal_group(process, signal.SIGKILL)
    while running:
        _reap(running)
        running = [p for p in running if is_running(p)]
        if running:
            time.sleep(0.05)


def _signal_group(process: ManagedProcess, signum: signal.Signals) -> None:
    # The process leads its own session and group, so signalling the group also reaches any helper
    # it forked; the pid was just checked to be ours.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _reap(processes: list[ManagedProcess]) -> None:
    """Collect exit statuses of our own children so they do not linger as zombies."""
    for process in processes:
        # ChildProcessError: not our child (started by an earlier `cluster up`), so init reaps it.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(process.pid, os.WNOHANG)


def probe(url: str, context: ssl.SSLContext | None) -> bool:
    """True when ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 - our own URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until_ready(
    process: ManagedProcess, url: str, context: ssl.SSLContext | None, log: Path, deadline: float
) -> None:
    """Poll ``url`` until it answers 200; fail early, with the log's tail, if the process ends."""
    while time.monotonic() < deadline:
        if probe(url, context):
            return
        if not is_running(process):
            how = exit_description(process) or "exited"
            raise StartFailed(f"{process.name} {how} during start-up: {log_tail(log)}")
        time.sleep(0.2)
    raise StartFailed(f"{process.name} not ready at {url} in time: {log_tail(log)}")


def log_tail(log: Path, lines: int = 8) -> str:
    try:
        tail = log.read_text(errors="replace").strip().splitlines()[-lines:]
    except FileNotFoundError:
        return f"(no log at {log})"
    return " | ".join(tail) + f" (full log: {log})"
