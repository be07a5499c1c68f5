"""What each answer of a soak should have been, and the figures of a run (pure).

A subject (a Seal user's token, or a staked node) is *live* from the moment its SealToken/StakedNode was
seen Active until the chain takes it away (revocation, slash) at ``ended_at``. An answer sent while live
must allow; one sent more than ``budget_s`` after the end must deny; in between (the revocation window,
docs/threat-model.md) either is right. Every other outcome is a wrong decision; a non-200 answer or a
broken connection is an error.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Subject:
    name: str
    kind: str
    """``user`` (TokenReview and write AdmissionReview) or ``node`` (its Node update)."""
    live_at: float
    ended_at: float | None = None
    churn: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    subject: str
    path: str
    """``/authenticate`` or ``/validate``."""
    sent_at: float
    latency_s: float
    status: int
    """HTTP status; 0: the connection failed."""
    allowed: bool


def expected(subject: Subject, sent_at: float, budget_s: float) -> bool | None:
    """True: must allow; False: must deny; None: inside the revocation window, either is right."""
    if subject.ended_at is None or sent_at < subject.ended_at:
        return True
    if sent_at > subject.ended_at + budget_s:
        return False
    return None


@dataclass
class Verdicts:
    answers: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    wrong: list[Answer] = field(default_factory=list)
    errors: list[Answer] = field(default_factory=list)
    in_window: int = 0


def judge(answers: list[Answer], subjects: dict[str, Subject], budget_s: float) -> Verdicts:
    verdicts = Verdicts()
    for answer in answers:
        verdicts.answers += 1
        verdicts.by_path[answer.path] = verdicts.by_path.get(answer.path, 0) + 1
        if answer.status != 200:
            verdicts.errors.append(answer)
            continue
        want = expected(subjects[answer.subject], answer.sent_at, budget_s)
        if want is None:
            verdicts.in_window += 1
        elif want != answer.allowed:
            verdicts.wrong.append(answer)
    return verdicts


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2)

    return {"n": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def growth(samples: list[int]) -> float | None:
    """Relative resident-memory growth: median of the last three samples over the first three's."""
    if len(samples) < 2:
        return None
    head = statistics.median(samples[:3])
    tail = statistics.median(samples[-3:])
    return (tail - head) / head if head else None
