"""Run the fuzz harnesses for a time budget and report what was tried.

    .venv/bin/python -m fuzz --minutes 30                  # every target, the budget split evenly
    .venv/bin/python -m fuzz --runs 5000 --target join      # a fixed number of inputs

New inputs the fuzzer finds go to ``--work DIR/<target>`` (the committed seeds in
``fuzz/corpus/<target>`` are read, never written); a crash, a 5xx or a broken answer stops that
target and leaves the input as ``DIR/<target>/crash-*`` (replay it: ``python fuzz/<target>.py FILE``).
Exit status 1 when any target found something.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("sealtoken", "signature", "tokenreview", "admissionreview", "join", "localnet")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_CORPUS = re.compile(r"corp: (\d+)/")
_COVERAGE = re.compile(r"cov: (\d+)")


@dataclass(frozen=True)
class Outcome:
    target: str
    status: int
    runs: int
    seconds: float
    corpus: int
    coverage: int
    log: Path

    @property
    def ok(self) -> bool:
        return self.status == 0


def run_target(target: str, work: Path, *, runs: int | None, seconds: int | None, rss_limit_mb: int) -> Outcome:
    """One harness in its own process (libFuzzer owns the process), bounded in runs or time."""
    out = work / target
    out.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        str(HERE / f"{target}.py"),
        f"-rss_limit_mb={rss_limit_mb}",
        "-timeout=20",  # one input taking longer is a hang: a finding
        f"-artifact_prefix={out}/",
        "-print_final_stats=1",
    ]
    if runs is not None:
        argv.append(f"-runs={runs}")
    if seconds is not None:
        argv.append(f"-max_total_time={seconds}")
    argv += [str(out / "corpus"), str(HERE / "corpus" / target)]
    (out / "corpus").mkdir(exist_ok=True)
    log = out / "fuzz.log"
    started = time.monotonic()
    with log.open("w") as sink:
        status = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, check=False).returncode
    text = log.read_text(errors="replace")
    done = _DONE.findall(text)
    corpus = _CORPUS.findall(text)
    coverage = _COVERAGE.findall(text)
    return Outcome(
        target,
        status,
        int(done[-1][0]) if done else _last_run(text),
        time.monotonic() - started,
        int(corpus[-1]) if corpus else 0,
        int(coverage[-1]) if coverage else 0,
        log,
    )


def _last_run(text: str) -> int:
    runs = re.findall(r"^#(\d+)", text, re.M)
    return int(runs[-1]) if runs else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n\n")[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="total time, split evenly over the targets (default 5)")
    budget.add_argument("--runs", type=int, help="inputs per target instead of a time budget")
    parser.add_argument("--target", action="append", choices=TARGETS, help="repeatable (default: all)")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "k3s-daas" / "fuzz")
    parser.add_argument("--rss-limit-mb", type=int, default=1024, help="libFuzzer's memory cap per target")
    args = parser.parse_args(argv)
    targets = args.target or list(TARGETS)
    seconds = None if args.runs else max(1, int((args.minutes or 5.0) * 60 / len(targets)))
    outcomes = []
    for target in targets:
        outcome = run_target(target, args.work, runs=args.runs, seconds=seconds, rss_limit_mb=args.rss_limit_mb)
        outcomes.append(outcome)
        verdict = "ok" if outcome.ok else f"FOUND SOMETHING (exit {outcome.status}): see {outcome.log}"
        print(
            f"{target:16} {outcome.runs:>9} inputs in {outcome.seconds:6.0f} s, corpus {outcome.corpus:5}, "
            f"coverage {outcome.coverage:5}: {verdict}",
            flush=True,
        )
    total = sum(outcome.runs for outcome in outcomes)
    print(f"{total} inputs over {len(outcomes)} targets; work directory {args.work}")
    return 0 if all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
