"""Bounded caches: verified tokens (skip the signature check) and used join-request ids (replays).

Both are bounded in size and by the expiry of what they hold. They live on the event loop thread
only, so they need no lock.
"""

from __future__ import annotations

from collections import OrderedDict

from k3s_daas.sealtoken import VerifiedToken, still_valid


class VerifiedTokenCache:
    """Token text -> verified token, least recently used first out, never past the token's expiry.

    Keyed by the full token: an attacker cannot reach a cached entry without the exact bytes that
    were verified. Only the signature and claim checks are cached; the identity decision (revocation,
    stake) is made afresh from the current index on every request.
    """

    def __init__(self, max_entries: int, leeway_s: float) -> None:
        if max_entries < 1:
            raise ValueError("the verified-token cache needs room for at least one entry")
        self._entries: OrderedDict[str, VerifiedToken] = OrderedDict()
        self._max_entries = max_entries
        self._leeway_s = leeway_s

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> VerifiedToken | None:
        verified = self._entries.get(token)
        if verified is None:
            return None
        if not still_valid(verified.claims, now, self._leeway_s):
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return verified

    def put(self, token: str, verified: VerifiedToken, now: float) -> None:
        self._entries[token] = verified
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        self._drop_expired_head(now)

    def _drop_expired_head(self, now: float, budget: int = 8) -> None:
        # Expired entries leave on lookup; this sweeps a few from the cold end on every insert so
        # tokens nobody presents again do not sit there until evicted by size.
        for _ in range(budget):
            if not self._entries:
                return
            token, verified = next(iter(self._entries.items()))
            if still_valid(verified.claims, now, self._leeway_s):
                return
            del self._entries[token]


class ReplayGuard:
    """Remembers (address, jti) of accepted join requests until they could no longer verify."""

    def __init__(self, max_entries: int) -> None:
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._max_entries = max_entries

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, address: str, token_id: str, valid_until: float, now: float) -> bool | None:
        """True the first time, False for a replay, None when full of live entries (try later).

        Entries are kept in insertion order; expired ones are dropped from the front.
        """
        self._expire(now)
        key = (address, token_id)
        if key in self._seen:
            return False
        if len(self._seen) >= self._max_entries:
            return None  # forgetting a live entry would allow its replay: refuse instead
        self._seen[key] = valid_until
        return True

    def _expire(self, now: float) -> None:
        while self._seen:
            key, valid_until = next(iter(self._seen.items()))
            if valid_until > now:
                return
            del self._seen[key]


class AnswerMemo:
    """Request body -> encoded TokenReview answer, valid for one identity snapshot and until a deadline.

    The answer is a pure function of (token, snapshot, now): the same bytes from the API server, against
    the same snapshot, before the earliest expiry involved, get the same answer. Replaying it skips JSON
    parsing, the decision and encoding, which is most of what /authenticate adds to the server stack.
    A new snapshot (any SealToken change, such as a revocation) empties the memo. Only positive answers
    are memoized; a denial is always decided afresh.
    """

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max(1, max_entries)
        self._snapshot: object = None
        self._entries: dict[bytes, tuple[bytes, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, body: bytes, snapshot: object, now: float) -> bytes | None:
        if snapshot is not self._snapshot:
            self._entries.clear()
            self._snapshot = snapshot
            return None
        hit = self._entries.get(body)
        if hit is None or now >= hit[1]:
            return None
        return hit[0]

    def put(self, body: bytes, snapshot: object, answer: bytes, valid_until: float) -> None:
        if snapshot is not self._snapshot:
            self._entries.clear()
            self._snapshot = snapshot
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # oldest first
        self._entries[body] = (answer, valid_until)
