"""One asyncio lock per key, created on first use and dropped when nobody holds or awaits it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class KeyedLocks:
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _holders: dict[str, int] = field(default_factory=dict)
    """Tasks holding or awaiting each key's lock: the lock is dropped when this reaches 0."""

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key]
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
