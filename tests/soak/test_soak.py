"""The soak benchmark in CI form (issue 8, point 9): `k3s-daas bench soak` for about 25 s on its own stack.

Asserts only correctness: zero wrong decisions and zero errors while tokens are issued and revoked and
nodes slashed under load; never timings (the figures are the benchmark's, docs/failure-modes.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

CLI = str(Path(sys.executable).with_name("k3s-daas"))


def test_a_short_soak_makes_no_wrong_decision_and_no_error(control_plane) -> None:  # type: ignore[no-untyped-def]
    # control_plane: the session's build of the Kubernetes binaries (or its skip) comes first.
    result = subprocess.run(
        [CLI, "bench", "soak", "--minutes", "0.45", "--churn-interval", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout
    assert "{" in output, f"no report (exit {result.returncode}): {result.stderr[-3000:]}"
    figures = json.loads(output[output.index("\n{") + 1 :])
    assert figures["wrong_decisions"] == 0, figures["wrong_examples"]
    assert figures["errors"] == 0
    churn = figures["churn"]
    assert churn["revoked"] >= 1 and figures["answers"]["/validate"] > 0
    # What the chain retired was deleted from the cluster too, as its user or an admin would.
    assert churn["deleted"] == churn["revoked"] + churn["slashed"]
    assert result.returncode == 0
