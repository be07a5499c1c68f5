"""Retrying a step the operator cannot go on without (a cursor load or save, the deployment read)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until_done(
    what: str,
    action: Callable[[], Awaitable[T]],
    retryable: tuple[type[Exception], ...],
    log: logging.Logger,
    cap_s: float = 10.0,
) -> T:
    """``action``'s result, retried with backoff (0.5 s doubling up to ``cap_s``) while it raises one of
    ``retryable``; each failure is logged on the caller's ``log`` as "could not <what>"."""
    delay = 0.5
    while True:
        try:
            return await action()
        except retryable as error:
            log.warning("could not %s (%s); retrying in %.1f s", what, error, delay)
            await asyncio.sleep(delay)
            delay = min(cap_s, delay * 2)
