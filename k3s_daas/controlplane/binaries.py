"""Build kube-apiserver, kube-controller-manager and kubectl from their Go modules, once.

The Go module in ``gobuild/`` pins ``k8s.io/kubernetes`` (the version k3s embeds) with the staging
modules replaced by their matching ``v0.x.y`` releases. Binaries are cached outside the repository,
under a key derived from that module and the Go version, so they are rebuilt only when the pin (or
the toolchain) changes. Two concurrent callers (a test session and a CLI) share one build via a lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from k3s_daas.errors import UserError
from k3s_daas.settings import ControlPlaneSettings

GO_MODULE_DIR = Path(__file__).parent / "gobuild"
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kubectl")
PROGRESS_INTERVAL_S = 30.0

Progress = Callable[[str], None]


class PrerequisiteMissing(UserError):
    """Something this machine must provide is absent (Go toolchain, module download, etcd).

    Tests skip on it outside CI and fail on it in CI; the message says what is missing.
    """


class BuildFailed(UserError):
    """The Go build ran and failed: a real defect, never skipped."""


@dataclass(frozen=True)
class KubeBinaries:
    version: str
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path


def pinned_kube_version(module_dir: Path = GO_MODULE_DIR) -> str:
    """The ``k8s.io/kubernetes`` version required by the build module: the single source of truth."""
    match = re.search(
        r"^\s*(?:require\s+)?k8s\.io/kubernetes (v\d+\.\d+\.\d+)$", (module_dir / "go.mod").read_text(), re.M
    )
    if match is None:
        raise BuildFailed(f"{module_dir / 'go.mod'} does not require k8s.io/kubernetes vX.Y.Z")
    return match.group(1)


def required_go_version(module_dir: Path = GO_MODULE_DIR) -> str:
    match = re.search(r"^go (\d+\.\d+(?:\.\d+)?)$", (module_dir / "go.mod").read_text(), re.M)
    return match.group(1) if match else "1.0"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def version_ldflags(version: str) -> str:
    """The ``-X`` flags Kubernetes' own build sets, so the binaries report their real version."""
    major, minor, _patch = version.removeprefix("v").split(".")
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    flags = [
        f"-X {package}.{key}={value}"
        for key, value in values.items()
        for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")
    ]
    return " ".join(["-s", "-w", *flags])


def build_key(module_dir: Path, go_version: str) -> str:
    digest = hashlib.sha256(go_version.encode())
    for path in sorted([module_dir / "go.mod", module_dir / "go.sum", *module_dir.glob("cmd/*/*.go")]):
        digest.update(path.relative_to(module_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_binaries(settings: ControlPlaneSettings, progress: Progress) -> KubeBinaries:
    """Return cached binaries, building them first if the pin or the toolchain changed."""
    go = shutil.which(settings.go_binary)
    if go is None:
        raise PrerequisiteMissing(
            f"Go toolchain {settings.go_binary!r} not found on PATH: it is needed to build kube-apiserver "
            "(install Go >= 1.25 or set K3S_DAAS_GO_BINARY)"
        )
    version = pinned_kube_version()
    go_version = _run_go([go, "env", "GOVERSION"], GO_MODULE_DIR, "go env").strip()
    required = required_go_version()
    if _version_tuple(go_version) < _version_tuple(required):
        raise PrerequisiteMissing(f"{go} is {go_version}, the Kubernetes {version} modules need go >= {required}")
    target = settings.cache_dir / "kube" / f"{version}-{build_key(GO_MODULE_DIR, go_version)}"
    binaries = KubeBinaries(version, *(target / "bin" / name for name in COMMANDS))
    if _complete(target):
        return binaries
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder finishes first; we then reuse its result
        if not _complete(target):
            _build(go, version, target, progress)
    return binaries


def _complete(target: Path) -> bool:
    return (target / "complete").exists()


def _build(go: str, version: str, target: Path, progress: Progress) -> None:
    started = time.monotonic()
    progress(f"downloading Go modules for Kubernetes {version} ...")
    try:
        _run_go([go, "mod", "download"], GO_MODULE_DIR, "go mod download")
    except BuildFailed as error:
        raise PrerequisiteMissing(f"could not download the Kubernetes Go modules: {error}") from None
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"building kube-apiserver, kube-controller-manager, kubectl {version} (cold: ~10 min on 2 cores)")
    command = [
        go,
        "build",
        "-trimpath",
        "-ldflags",
        version_ldflags(version),
        "-o",
        str(staging / "bin") + "/",
    ]
    with _heartbeat(progress, started):
        _run_go([*command, "./cmd/..."], GO_MODULE_DIR, "go build")
    (staging / "complete").write_text(f"built in {time.monotonic() - started:.0f}s\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    progress(f"built Kubernetes {version} in {time.monotonic() - started:.0f}s into {target}")


def _run_go(command: list[str], cwd: Path, what: str) -> str:
    # GOTOOLCHAIN=local: never let go fetch another toolchain behind the user's back.
    environment = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-5:])
        raise BuildFailed(f"{what} failed (exit {result.returncode}): {tail}")
    return result.stdout


class _heartbeat:
    """Prints elapsed time while a long build runs, so a person knows it is alive."""

    def __init__(self, progress: Progress, started: float) -> None:
        self._progress = progress
        self._started = started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="build-heartbeat", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(PROGRESS_INTERVAL_S):
            self._progress(f"  still building ... {time.monotonic() - self._started:.0f}s")
