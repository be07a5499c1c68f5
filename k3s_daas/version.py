"""`k3s-daas version`: this package, its commit, Python, the libraries that talk to Sui and Kubernetes,
and the Kubernetes release the control plane is built from (k3s_daas/controlplane/gobuild/go.mod).

The commit comes from the installation record when pip installed from a Git URL (PEP 610
``direct_url.json``), else from the source checkout the package runs from (read from ``.git``
directly: no git binary needed), else it is unknown: a wheel built from a tarball does not know it.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Final

from k3s_daas import __version__
from k3s_daas.settings import Settings

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

DISTRIBUTION: Final = "k3s-daas"
LIBRARIES: Final = ("pysui", "kopf", "kubernetes", "aiohttp", "cryptography")
_SHA: Final = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "version",
        help="print the version, commit, Python, library and Kubernetes versions",
        description="What this installation is: for bug reports and upgrade checks.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.set_defaults(run=run)


def commit_from_git_dir(checkout: Path) -> str | None:
    """The commit ``checkout``'s HEAD names, read from its ``.git`` (a directory, or a worktree's file)."""
    git = checkout / ".git"
    try:
        if git.is_file():
            pointer = git.read_text(encoding="utf-8").strip()
            if not pointer.startswith("gitdir:"):
                return None
            git = (checkout / pointer.removeprefix("gitdir:").strip()).resolve()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if _SHA.fullmatch(head):
            return head
        if not head.startswith("ref:"):
            return None
        ref = head.removeprefix("ref:").strip()
        # A worktree keeps its HEAD but shares refs with the main repository.
        common = git / "commondir"
        shared = (git / common.read_text(encoding="utf-8").strip()).resolve() if common.is_file() else git
        for base in (git, shared):
            loose = base / ref
            if loose.is_file():
                value = loose.read_text(encoding="utf-8").strip()
                return value if _SHA.fullmatch(value) else None
        packed = shared / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                sha, _, name = line.partition(" ")
                if name == ref and _SHA.fullmatch(sha):
                    return sha
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _installed_commit() -> str | None:
    try:
        record = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not record:
        return None
    try:
        commit = json.loads(record).get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return commit if isinstance(commit, str) and _SHA.fullmatch(commit) else None


def _library_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _kubernetes_release() -> str | None:
    from k3s_daas.controlplane.binaries import BuildFailed, pinned_kube_version

    try:
        return pinned_kube_version()
    except (OSError, BuildFailed):
        return None


def version_info() -> dict[str, object]:
    package_root = Path(__file__).resolve().parents[1]  # the checkout, when running from one
    return {
        "version": __version__,
        "commit": _installed_commit() or commit_from_git_dir(package_root),
        "python": platform.python_version(),
        "libraries": {name: _library_version(name) for name in LIBRARIES},
        "kubernetes_control_plane": _kubernetes_release(),
    }


def render_text(info: dict[str, object]) -> str:
    libraries = info["libraries"]
    assert isinstance(libraries, dict)
    lines = [
        f"k3s-daas {info['version']}",
        f"commit: {info['commit'] or 'unknown'}",
        f"python: {info['python']}",
        f"kubernetes (control plane build, k3s's API server): {info['kubernetes_control_plane'] or 'unknown'}",
        *(f"{name}: {version or 'not installed'}" for name, version in libraries.items()),
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, settings: Settings) -> int:
    info = version_info()
    print(json.dumps(info, indent=2) if args.json else render_text(info), end="\n" if args.json else "")
    return 0
