"""The README's journeys, word for word, against `k3s-daas up` started as a user starts it.

HOME points at a fresh directory so `up` uses its default state directory and the README's
`source ~/.local/state/k3s-daas/env` finds it; only the ports are moved to free ones.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from k3s_daas.controlplane.processes import free_loopback_port

pytestmark = pytest.mark.cluster

README = Path(__file__).resolve().parents[2] / "README.md"
JOURNEY_HEADING = "## Try it: from nothing to `kubectl` as a staked user"


def journey_blocks() -> list[str]:
    section = README.read_text().split(JOURNEY_HEADING, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def user_environment(tmp_path_factory: pytest.TempPathFactory, settings) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    return {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        # the built Kubernetes binaries are reused, not rebuilt under the new HOME
        "K3S_DAAS_CACHE_DIR": str(settings.control_plane.cache_dir),
        "K3S_DAAS_LOCALNET_PORT": str(free_loopback_port()),
        "K3S_DAAS_WEBHOOK_PORT": str(free_loopback_port()),
    }


@pytest.fixture(scope="module")
def stack(user_environment: dict[str, str], control_plane) -> Iterator[Path]:
    """`k3s-daas up` in the foreground of its own process, as `./dev up` runs it."""
    env_file = Path(user_environment["HOME"]) / ".local" / "state" / "k3s-daas" / "env"
    up = subprocess.Popen(
        [sys.executable, "-m", "k3s_daas.cli", "up"],
        env=user_environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not env_file.exists():
            assert up.poll() is None, f"up exited: {up.communicate()[1]}"
            assert time.monotonic() < deadline, "up did not become ready"
            time.sleep(0.2)
        yield env_file
    finally:
        up.send_signal(signal.SIGINT)
        _out, err = up.communicate(timeout=60)
        assert up.returncode == 0, err


def run_block(block: str, environment: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_has_a_user_and_a_node_journey() -> None:
    assert len(journey_blocks()) == 2


def test_user_journey(stack: Path, user_environment: dict[str, str], tmp_path: Path) -> None:
    user, _node = journey_blocks()
    result = run_block(user, user_environment, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Username\s+sui:0x[0-9a-f]{64}", result.stdout)
    assert "k3s-daas:role:user" in result.stdout
    assert 'cannot create resource "configmaps"' in result.stderr
    assert "refused: the token allows pods:read only" in result.stdout
    assert "condition met" in result.stdout  # Active, then Revoked


def test_node_journey(stack: Path, user_environment: dict[str, str], tmp_path: Path) -> None:
    _user, node = journey_blocks()
    result = run_block(node, user_environment, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(
        r"k3s agent --server https://127\.0\.0\.1:\d+ --token K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}", result.stdout
    )
    assert "node_not_active" in result.stderr and "refused: the node is Slashed" in result.stdout
