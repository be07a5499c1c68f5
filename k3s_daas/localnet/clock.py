"""Clocks as plain functions returning milliseconds since the epoch, so tests can inject one."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
