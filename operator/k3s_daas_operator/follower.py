"""Follows the package's events from a cursor persisted in the cluster.

At-least-once with idempotent effects: a page's events are applied (the objects they touch are
reconciled against fresh chain state) *before* the cursor after them is saved. A crash between
the two replays that page after a restart, and replaying is harmless: re-verifying an object is
idempotent, resources created from events have deterministic names (409 on the second try), and
reads newer than an event skip it (``ChainView``). So nothing is missed and nothing is applied
twice in effect.

A page whose application fails (an object it names could not be read from the chain, or a resource
could not be created from it) is applied again, with backoff, and the cursor stays before it: a
chain that answers the event query but not the object reads does not move the cursor past events
whose effect is not in the cluster yet.

``confirmed_at`` is the start of the last read that reached the end of the stream with everything
before it applied: chain state as of that moment is in the cluster (the heartbeat publishes it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from k3s_daas.chain import ChainClient, ChainError, ChainEvent
from k3s_daas_operator import retry
from k3s_daas_operator.cursor_store import CursorStore
from k3s_daas_operator.kube import KubeError
from k3s_daas_operator.metrics import OperatorMetrics

log = logging.getLogger(__name__)

_RETRY_CAP_S: Final = 10.0
_RETRYABLE: Final = (KubeError,)

ApplyEvents = Callable[[Sequence[ChainEvent]], Awaitable[None]]


@dataclass
class EventFollower:
    chain: ChainClient
    store: CursorStore
    apply: ApplyEvents
    metrics: OperatorMetrics
    poll_interval_s: float
    last_success: float = 0.0
    """time.monotonic() of the last successful read of the event stream."""
    newest_event_ms: int | None = None
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the stream has been read to its end (the backlog of a first start is applied)."""
    polls: int = 0
    confirmed_at: float = 0.0
    """time.time() at the start of the last read that found the stream's end, all before it applied."""
    confirmed_checkpoint: int | None = None

    applying: bool = False
    """Applying a page: the stream was read, the operator is acting on it."""

    def healthy(self, within_s: float) -> bool:
        """Is the stream being followed, so that cached chain state can be trusted? (Read recently,
        or read and now being applied: a long apply after a cold start is not an outage.)"""
        if self.last_success <= 0:
            return False
        return self.applying or time.monotonic() - self.last_success <= within_s

    async def run(self) -> None:
        cursor = await retry.until_done("load the event cursor", self.store.load, _RETRYABLE, log)
        log.info("following chain events from %s", "cursor " + cursor if cursor else "the beginning")
        failures = 0
        while True:
            started = time.time()
            try:
                self.polls += 1
                page = await self.chain.events(after=cursor)
            except ChainError as error:
                failures += 1
                delay = self._delay(failures)
                log.warning("reading chain events failed (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            self.last_success = time.monotonic()
            self.metrics.last_poll.set(time.time())
            if page.events:
                self.applying = True
                try:
                    await self.apply(page.events)
                except (ChainError, KubeError) as error:
                    failures += 1
                    delay = self._delay(failures)
                    log.warning(
                        "applying %d chain events failed (%s); applying them again in %.1f s, cursor unchanged",
                        len(page.events),
                        error,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                finally:
                    self.applying = False
                    self.last_success = time.monotonic()
                if page.cursor is not None:
                    await retry.until_done(
                        "save the event cursor", partial(self.store.save, page.cursor), _RETRYABLE, log
                    )
                cursor = page.cursor
                stamps = [e.timestamp_ms for e in page.events if e.timestamp_ms is not None]
                if stamps:
                    self.newest_event_ms = max([*stamps, self.newest_event_ms or 0])
            failures = 0
            if not page.has_more:
                self.confirmed_at, self.confirmed_checkpoint = started, page.checkpoint
                self.caught_up.set()
                await asyncio.sleep(self.poll_interval_s)

    def _delay(self, failures: int) -> float:
        return float(min(_RETRY_CAP_S, self.poll_interval_s * 2**failures))

    def lag_seconds(self) -> float | None:
        if self.newest_event_ms is None:
            return None
        return max(0.0, time.time() - self.newest_event_ms / 1000)
