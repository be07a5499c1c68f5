"""Every atheris harness in fuzz/ runs a bounded budget from its committed seed corpus and finds
nothing: no crash, no 5xx, no malformed answer, no RSS growth past the harness's bound.

The long run is `.venv/bin/python -m fuzz --minutes 30` (docs/security-testing.md); this is the CI
budget of the same harnesses through the same driver.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("sealtoken", "signature", "tokenreview", "admissionreview", "join", "localnet")
# Inputs per target: the parsers alone take ~10,000/s, the HTTP harnesses ~1,000/s here.
RUNS = {"sealtoken": 10_000, "signature": 20_000}
DEFAULT_RUNS = 1_500


def test_every_harness_has_a_seed_corpus() -> None:
    for target in TARGETS:
        assert (REPO / "fuzz" / f"{target}.py").is_file(), target
        seeds = list((REPO / "fuzz" / "corpus" / target).iterdir())
        assert 5 <= len(seeds) <= 40, (target, len(seeds))
        assert sum(seed.stat().st_size for seed in seeds) < 64 * 1024, target


@pytest.mark.parametrize("target", TARGETS)
def test_harness_finds_nothing_in_a_bounded_run(target: str, tmp_path: Path) -> None:
    runs = RUNS.get(target, DEFAULT_RUNS)
    result = subprocess.run(
        [sys.executable, "-m", "fuzz", "--runs", str(runs), "--target", target, "--work", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = tmp_path / target / "fuzz.log"
    detail = log.read_text(errors="replace")[-3000:] if log.exists() else result.stderr
    assert result.returncode == 0, f"{result.stdout}\n{detail}"
    line = re.search(rf"^{target}\s+(\d+) inputs", result.stdout, re.M)
    assert line is not None, result.stdout
    assert int(line.group(1)) == runs, result.stdout
    assert not list((tmp_path / target).glob("crash-*")), detail
