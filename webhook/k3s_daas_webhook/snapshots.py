"""Immutable snapshots of a watched collection, the holder that publishes them, and their mirror.

A request reads ``holder.snapshot`` once and keeps that value: one consistent state, no lock.
Assigning an attribute is atomic under the GIL and the event loop is single-threaded. The SealToken
index has its own holder (``index.IndexHolder``) and mirror, older than this generic pair.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, Self, TypeVar

from prometheus_client import Gauge


class Snapshot(Protocol):
    """What a mirror needs from a snapshot type: copy-on-write updates by object."""

    def __len__(self) -> int: ...

    def with_resource(self, resource: Mapping[str, Any]) -> Self: ...

    def without(self, name: str) -> Self: ...

    def relisted(self, fresh: Self) -> Self:
        """The snapshot after a (re)list built ``fresh``: usually ``fresh`` itself; the chain heartbeat
        keeps what it had seen (``admission_chain``)."""
        ...


S = TypeVar("S", bound=Snapshot)


class SnapshotHolder(Generic[S]):
    """``synced``: a complete list was loaded once (the snapshot may be served). ``current``: and the
    watch has not been lost since (readiness: false from a lost watch until the next complete list)."""

    def __init__(self, snapshot: S, *, synced: bool = False) -> None:
        self.snapshot = snapshot
        self.synced = synced
        self.current = synced

    def publish(self, snapshot: S, *, synced: bool = True) -> None:
        self.snapshot = snapshot
        self.synced = synced
        self.current = synced

    def lost(self) -> None:
        self.current = False


class SnapshotMirror(Generic[S]):
    """Keeps a ``SnapshotHolder`` in line with a list + watch (``watcher.ListWatcher``).

    ``on_change`` is called after every publish (the node-guard publisher listens to it).
    """

    def __init__(
        self,
        kind: str,
        path: str,
        holder: SnapshotHolder[S],
        build: Callable[[list[dict[str, Any]]], S],
        *,
        objects: Gauge,
        synced: Gauge,
        restarted: Callable[[str], None],
    ) -> None:
        self._kind = kind
        self._path = path
        self._holder = holder
        self._build = build
        self._objects = objects
        self._synced = synced
        self._restarted = restarted
        self.on_change: list[Callable[[S], None]] = []

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def path(self) -> str:
        return self._path

    def replace(self, items: list[dict[str, Any]]) -> int:
        snapshot = self._holder.snapshot.relisted(self._build(items))
        self._publish(snapshot)
        return len(snapshot)

    def upsert(self, resource: dict[str, Any]) -> None:
        self._publish(self._holder.snapshot.with_resource(resource))

    def remove(self, name: str) -> None:
        self._publish(self._holder.snapshot.without(name))

    def restarted(self, cause: str) -> None:
        self._holder.lost()
        self._restarted(cause)

    def _publish(self, snapshot: S) -> None:
        self._holder.publish(snapshot, synced=True)
        self._objects.set(len(snapshot))
        self._synced.set(1)
        for listener in self.on_change:
            listener(snapshot)
