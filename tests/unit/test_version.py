"""`k3s-daas version`: package, commit, Python, libraries and the control plane's Kubernetes release."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from k3s_daas import __version__
from k3s_daas.controlplane.binaries import pinned_kube_version
from k3s_daas.version import commit_from_git_dir

ROOT = Path(__file__).resolve().parents[2]
SHA_A, SHA_B = "a" * 40, "b" * 40


def test_json_names_every_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "k3s_daas.cli", "version", "--json"], capture_output=True, text=True, check=True
    )
    info = json.loads(result.stdout)
    assert info["version"] == __version__ == metadata.version("k3s-daas")
    assert info["python"] == platform.python_version()
    assert info["kubernetes_control_plane"] == pinned_kube_version()
    for name in ("pysui", "kopf", "kubernetes"):
        assert info["libraries"][name] == metadata.version(name)
    if (ROOT / ".git").exists():
        assert info["commit"] == commit_from_git_dir(ROOT)


def test_text_for_people() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "k3s_daas.cli", "version"], capture_output=True, text=True, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0] == f"k3s-daas {__version__}"
    assert f"kubernetes (control plane build, k3s's API server): {pinned_kube_version()}" in lines
    assert f"pysui: {metadata.version('pysui')}" in lines


def test_commit_from_a_branch_ref_a_packed_ref_and_a_detached_head(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA_A + "\n")
    assert commit_from_git_dir(tmp_path) == SHA_A
    (git / "refs" / "heads" / "main").unlink()
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{SHA_B} refs/heads/main\n")
    assert commit_from_git_dir(tmp_path) == SHA_B
    (git / "HEAD").write_text(SHA_A + "\n")
    assert commit_from_git_dir(tmp_path) == SHA_A


def test_commit_from_a_worktree(tmp_path: Path) -> None:
    main_git = tmp_path / "main" / ".git"
    (main_git / "refs" / "heads").mkdir(parents=True)
    (main_git / "refs" / "heads" / "topic").write_text(SHA_B + "\n")
    worktree_git = main_git / "worktrees" / "wt"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/topic\n")
    (worktree_git / "commondir").write_text("../..\n")
    checkout = tmp_path / "wt"
    checkout.mkdir()
    (checkout / ".git").write_text(f"gitdir: {worktree_git}\n")
    assert commit_from_git_dir(checkout) == SHA_B


def test_no_checkout_means_unknown(tmp_path: Path) -> None:
    assert commit_from_git_dir(tmp_path) is None
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/gone\n")
    assert commit_from_git_dir(tmp_path) is None
