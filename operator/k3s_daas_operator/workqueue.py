"""The set of objects waiting to be reconciled, and the timers that bring them back.

A key is queued once however often it is marked (marks merge: ``force`` sticks until the key is
taken). The worker takes everything queued as one batch, so chain reads for the batch can be
grouped. ``wait_processed`` lets the event follower persist its cursor only after the objects
its events touched have been reconciled.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from k3s_daas_operator.index import Key


@dataclass
class WorkQueue:
    _dirty: dict[Key, bool] = field(default_factory=dict)
    _delayed: list[tuple[float, Key, bool]] = field(default_factory=list)
    _due: dict[Key, float] = field(default_factory=dict)
    """The earliest pending timer of each key: one per key, however often it is asked for."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _done: asyncio.Condition = field(default_factory=asyncio.Condition)
    started: int = 0
    finished: int = 0

    def mark(self, keys: Iterable[Key], *, force: bool = False) -> int:
        """Queue ``keys``; returns the number of the batch that will hold them (for ``wait_processed``)."""
        for key in keys:
            self._dirty[key] = self._dirty.get(key, False) or force
        if self._dirty:
            self._wake.set()
        return self.started + 1

    def later(self, key: Key, delay_s: float, *, force: bool = False) -> None:
        due = time.monotonic() + max(0.0, delay_s)
        if self._due.get(key, float("inf")) <= due:
            return
        self._due[key] = due
        heapq.heappush(self._delayed, (due, key, force))
        self._wake.set()

    def __len__(self) -> int:
        return len(self._dirty)

    async def take(self) -> dict[Key, bool]:
        """Wait for work; return every queued key with its ``force`` flag, due timers included."""
        while True:
            self._promote_due()
            if self._dirty:
                batch, self._dirty = self._dirty, {}
                self.started += 1
                return batch
            self._wake.clear()
            timeout = self._delayed[0][0] - time.monotonic() if self._delayed else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _promote_due(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            due, key, force = heapq.heappop(self._delayed)
            if self._due.get(key) != due:
                continue  # superseded by an earlier timer of the same key
            del self._due[key]
            self._dirty[key] = self._dirty.get(key, False) or force

    async def batch_done(self) -> None:
        async with self._done:
            self.finished += 1
            self._done.notify_all()

    def _finished_since(self, target: int) -> bool:
        return self.finished >= target

    async def wait_processed(self, batch: int) -> None:
        """Return once batch number ``batch`` (from ``mark``), which holds the keys marked, has
        finished (a key that failed in it is retried on a timer)."""
        async with self._done:
            await self._done.wait_for(partial(self._finished_since, batch))

    @property
    def busy(self) -> bool:
        """A batch is being processed, or keys wait for one."""
        return self.started != self.finished or bool(self._dirty)
