"""The README's localnet walk-through, run word for word as a user would (on a free port)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from k3s_daas.controlplane.processes import free_loopback_port

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(heading: str) -> str:
    section = README.read_text().split(heading, 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, f"no sh block under {heading}"
    return match.group(1)


def test_readme_localnet_journey(tmp_path: Path) -> None:
    port = free_loopback_port()
    script = readme_block("## The embedded chain: localnet")
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "K3S_DAAS_LOCALNET_PORT": str(port),
        "K3S_DAAS_CHAIN_URL": f"http://127.0.0.1:{port}/graphql",
    }
    # The journey leaves `localnet serve` in the background, as a user's shell would: stop it after.
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f"trap 'kill $(jobs -p) 2>/dev/null' EXIT\n{script}"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "EAlreadyRevoked" in result.stderr and "refused" in result.stdout
    assert '"stake_record"' in result.stdout  # the SealTokenIssued event's parsedJson
    assert "::staking::Slashed" in result.stdout
