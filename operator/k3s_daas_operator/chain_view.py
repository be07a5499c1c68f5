"""What the operator last read from the chain, and which of it events have made stale.

Each read remembers the checkpoint it was consistent with. An event at checkpoint ``c`` about
an object makes the cached read stale only if the read is older than ``c``: a replayed event
(after a restart, or overlapping a full resync) that the read already reflects costs no query.
Reads are batched (the chain client asks for up to 50 objects per query) and a few batches are
in flight at once: a cold start's four hundred queries are latency, not work, on either side.
Each read is dated by the checkpoint of its own query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Final, Generic, Protocol, TypeVar

from k3s_daas.chain import ChainClient, SealToken, StakeEntry, StakeRecord

BATCH: Final = 50
"""Objects per query (the chain client's multi-get size)."""
READS_IN_FLIGHT: Final = 4

T = TypeVar("T")


class _Dated(Protocol):
    @property
    def checkpoint(self) -> int: ...


D = TypeVar("D", bound=_Dated)


@dataclass(slots=True)
class _Read(Generic[T]):
    value: T | None
    checkpoint: int


@dataclass
class ChainView:
    chain: ChainClient
    tokens: dict[str, _Read[SealToken]] = field(default_factory=dict)
    stakes: dict[str, _Read[StakeRecord]] = field(default_factory=dict)
    entries: dict[str, StakeEntry | None] = field(default_factory=dict)
    """Pool entries of records that no longer exist (withdrawn), read on their own."""
    slash_reasons: dict[str, str] = field(default_factory=dict)
    """Record id -> the reason of its latest slash. Only events carry it: filled by the follower, and
    after a restart (the Slashed event may lie before the saved cursor) by ``slash_reason``."""
    stake_to_tokens: dict[str, set[str]] = field(default_factory=dict)
    _stale_tokens: set[str] = field(default_factory=set)
    _stale_stakes: set[str] = field(default_factory=set)
    queries: int = 0
    _slashes_read: bool = False

    # --- invalidation ------------------------------------------------------------------------

    def token_changed(self, token_id: str, checkpoint: int | None) -> bool:
        """Note an event about a token; False when the cached read already reflects it."""
        read = self.tokens.get(token_id)
        if read is None or self._older(read, checkpoint):
            self._stale_tokens.add(token_id)
            return True
        return False

    def stake_changed(self, record_id: str, checkpoint: int | None) -> bool:
        """Note an event about a stake; False when the cached read already reflects it."""
        read = self.stakes.get(record_id)
        if read is None or self._older(read, checkpoint):
            self._stale_stakes.add(record_id)
            self.entries.pop(record_id, None)
            return True
        return False

    def invalidate_all(self) -> None:
        self._stale_tokens.update(self.tokens)
        self._stale_stakes.update(self.stakes)
        self.entries.clear()

    def retain(self, token_ids: AbstractSet[str], record_ids: AbstractSet[str]) -> None:
        """Forget what was read about other tokens and stakes (their resources were deleted, or never
        existed): without this the cache grows with every object the cluster ever held. A token or
        stake named again later is read again; a forgotten slash reason is found again by
        ``slash_reason``, which reads the Slashed events once more."""
        for reads, keep in ((self.tokens, token_ids), (self.stakes, record_ids)):
            for key in [k for k in reads if k not in keep]:
                del reads[key]
        self._stale_tokens &= token_ids
        self._stale_stakes &= record_ids
        for mapping in (self.entries, self.stake_to_tokens):
            for key in [k for k in mapping if k not in record_ids]:
                del mapping[key]
        for tokens in self.stake_to_tokens.values():
            tokens &= token_ids
        forgotten = [k for k in self.slash_reasons if k not in record_ids]
        for key in forgotten:
            del self.slash_reasons[key]
        if forgotten:
            self._slashes_read = False

    @staticmethod
    def _older(read: _Read[SealToken] | _Read[StakeRecord] | None, checkpoint: int | None) -> bool:
        return read is not None and (checkpoint is None or read.checkpoint < checkpoint)

    # --- reads -------------------------------------------------------------------------------

    def token(self, token_id: str) -> SealToken | None:
        read = self.tokens.get(token_id)
        return None if read is None else read.value

    def stake(self, record_id: str) -> StakeRecord | None:
        read = self.stakes.get(record_id)
        return None if read is None else read.value

    def checkpoint_of_token(self, token_id: str) -> int | None:
        read = self.tokens.get(token_id)
        return None if read is None else read.checkpoint

    def tokens_of_stake(self, record_id: str) -> set[str]:
        return set(self.stake_to_tokens.get(record_id, ()))

    def needs_token(self, token_id: str, force: bool) -> bool:
        return force or token_id not in self.tokens or token_id in self._stale_tokens

    def needs_stake(self, record_id: str, force: bool) -> bool:
        return force or record_id not in self.stakes or record_id in self._stale_stakes

    async def refresh_tokens(self, token_ids: Iterable[str]) -> None:
        for token_id, read in await self._read(sorted(set(token_ids)), self.chain.get_seal_tokens):
            self.tokens[token_id] = read
            self._stale_tokens.discard(token_id)
            if read.value is not None:
                self.stake_to_tokens.setdefault(read.value.stake_record, set()).add(token_id)

    async def refresh_stakes(self, record_ids: Iterable[str]) -> None:
        for record_id, read in await self._read(sorted(set(record_ids)), self.chain.get_stake_records):
            self.stakes[record_id] = read
            self._stale_stakes.discard(record_id)
            self.entries.pop(record_id, None)

    async def _read(
        self, wanted: Sequence[str], fetch: Callable[[Sequence[str]], Awaitable[Mapping[str, D]]]
    ) -> list[tuple[str, _Read[D]]]:
        """``wanted`` in batches, READS_IN_FLIGHT at a time; all or nothing (a ChainError fails the call)."""
        limit = asyncio.Semaphore(READS_IN_FLIGHT)

        async def one(batch: Sequence[str]) -> list[tuple[str, _Read[D]]]:
            async with limit:
                self.queries += 1
                found = await fetch(batch)
                # One query is consistent with one checkpoint: what it did not find is dated by it too.
                checkpoint = max((v.checkpoint for v in found.values()), default=0) or await self._checkpoint()
            return [(i, _Read(found.get(i), checkpoint)) for i in batch]

        batches = [wanted[start : start + BATCH] for start in range(0, len(wanted), BATCH)]
        return [row for rows in await asyncio.gather(*(one(b) for b in batches)) for row in rows]

    async def entry_of_missing_record(self, record_id: str) -> StakeEntry | None:
        """The pool entry of a record that no longer exists (``withdraw`` deletes the record)."""
        if record_id not in self.entries:
            self.queries += 1
            self.entries[record_id] = await self.chain.stake_entry(record_id)
        return self.entries[record_id]

    async def slash_reason(self, record_id: str) -> str | None:
        """The reason the chain gave for slashing ``record_id``; read from the package's Slashed events
        when not known (once per process: slashes are rare, and the follower records new ones)."""
        if record_id not in self.slash_reasons and not self._slashes_read:
            event_type = f"{self.chain.package_id}::staking::Slashed"
            after: str | None = None
            while True:
                self.queries += 1
                page = await self.chain.events(after, event_type=event_type)
                for event in page.events:
                    self.slash_reasons[str(event.fields.get("record_id"))] = str(event.fields.get("reason", ""))
                after = page.cursor
                if not page.has_more:
                    break
            self._slashes_read = True
        return self.slash_reasons.get(record_id)

    async def _checkpoint(self) -> int:
        # Nothing found: the answer carries no checkpoint, so ask for the latest one.
        self.queries += 1
        return await self.chain.latest_checkpoint()
