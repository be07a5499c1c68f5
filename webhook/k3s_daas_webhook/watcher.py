"""Feed the in-memory indexes from a list + watch of Kubernetes objects.

List, publish a snapshot (the index is now synced), then watch from the list's resourceVersion and
publish a new snapshot per change. A stream the server ended normally (its ``timeoutSeconds``) is
resumed from the last version seen (bookmarks keep it fresh). Anything else (410 Gone, an error, a
stream cut mid-way as when the API server restarts) means list again, and until that list completes
the index is not *current*: ``/readyz`` answers 503, because events may have been missed. Errors back
off exponentially up to 30 s; the last good snapshot keeps serving requests meanwhile.

One loop serves every index (SealTokens, StakedNodes, Namespaces): what differs is the ``Mirror``,
which turns objects into that index's immutable snapshot and publishes it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final, Protocol

from k3s_daas_webhook.index import IdentitySnapshot, IndexHolder, entry_from_resource
from k3s_daas_webhook.kube import ApiError, KubeClient
from k3s_daas_webhook.metrics import WebhookMetrics

log = logging.getLogger(__name__)

SEALTOKENS_PATH: Final = "/apis/k3s-daas.io/v1alpha1/sealtokens"
_WATCH_TIMEOUT_S: Final = 300.0
_MAX_BACKOFF_S: Final = 30.0


class Mirror(Protocol):
    """One index kept in line with one collection of objects."""

    @property
    def kind(self) -> str:
        """For log lines: "SealToken", "StakedNode", ..."""

    @property
    def path(self) -> str:
        """The collection's API path, e.g. /apis/k3s-daas.io/v1alpha1/sealtokens."""

    def replace(self, items: list[dict[str, Any]]) -> int:
        """Publish a snapshot of exactly ``items`` (a complete list); returns how many were indexed."""

    def upsert(self, resource: dict[str, Any]) -> None:
        """Publish a snapshot with ``resource`` added or changed."""

    def remove(self, name: str) -> None:
        """Publish a snapshot without the object named ``name``."""

    def restarted(self, cause: str) -> None:
        """The watch was lost and the collection will be listed again: ``gone`` (410), ``error`` or
        ``dropped``. The index is not current until the next ``replace``."""


class _Relist(Exception):
    """The watch cannot resume from its resourceVersion."""


class _Dropped(Exception):
    """A working stream was cut (not ended by the server): events may have been missed."""


class ListWatcher:
    def __init__(
        self, client: KubeClient, mirror: Mirror, *, page_size: int = 500, field_selector: str | None = None
    ) -> None:
        self._client = client
        self._mirror = mirror
        self._page_size = page_size
        self._selector = {"fieldSelector": field_selector} if field_selector else {}

    async def run(self) -> None:
        backoff = 0.5
        kind = self._mirror.kind
        while True:
            try:
                version = await self._list()
                backoff = 0.5
                await self._watch(version)
            except _Relist:
                self._mirror.restarted("gone")
                log.info("%s watch expired (410 Gone): listing again", kind)
            except _Dropped as dropped:
                self._mirror.restarted("dropped")
                log.info("%s watch stream cut (%s): listing again", kind, dropped)
                await asyncio.sleep(0.2)
            except ApiError as error:
                self._mirror.restarted("error")
                log.warning("%s list/watch failed, retrying in %.1f s: %s", kind, backoff, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _list(self) -> str:
        items: list[dict[str, Any]] = []
        params = {**self._selector, "limit": str(self._page_size)}
        while True:
            page = await self._client.get(self._mirror.path, params)
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            metadata = page.get("metadata") or {}
            next_page = metadata.get("continue")
            if not next_page:
                version = str(metadata.get("resourceVersion", ""))
                break
            params = {**self._selector, "limit": str(self._page_size), "continue": str(next_page)}
        count = self._mirror.replace(items)
        log.info("%s index synced: %d objects at resourceVersion %s", self._mirror.kind, count, version)
        return version

    async def _watch(self, version: str) -> None:
        while True:
            params = {**self._selector, "resourceVersion": version, "allowWatchBookmarks": "true"}
            received = False
            try:
                async for event in self._client.watch(self._mirror.path, params, _WATCH_TIMEOUT_S):
                    received = True
                    version = self._apply(event, version)
            except ApiError as error:
                if error.status == 410:
                    raise _Relist from None
                if error.status != 0 or not received:
                    raise  # an error status, or no stream at all: back off and list again
                # Cut after working (the API server went away mid-stream): resuming from the version
                # would replay what was missed, but nothing says when that replay is complete, so
                # list again and be ready once the list is in.
                raise _Dropped(error.message) from None

    def _apply(self, event: dict[str, Any], version: str) -> str:
        kind = event.get("type")
        resource = event.get("object")
        if not isinstance(resource, dict):
            return version
        if kind == "ERROR":
            code = resource.get("code")
            if code == 410:
                raise _Relist
            raise ApiError(int(code) if isinstance(code, int) else 500, str(resource.get("message", "watch error")))
        metadata = resource.get("metadata") or {}
        new_version = str(metadata.get("resourceVersion") or version)
        if kind == "BOOKMARK":
            return new_version
        name = metadata.get("name")
        if not isinstance(name, str):
            return new_version
        if kind == "DELETED":
            self._mirror.remove(name)
        elif kind in ("ADDED", "MODIFIED"):
            self._mirror.upsert(resource)
        return new_version


class SealTokenMirror:
    """SealToken resources -> the identity index (TokenReview and admission read it)."""

    def __init__(self, holder: IndexHolder, metrics: WebhookMetrics) -> None:
        self._holder = holder
        self._metrics = metrics

    @property
    def kind(self) -> str:
        return "SealToken"

    @property
    def path(self) -> str:
        return SEALTOKENS_PATH

    def replace(self, items: list[dict[str, Any]]) -> int:
        snapshot = IdentitySnapshot.build(entry for item in items if (entry := entry_from_resource(item)) is not None)
        self._publish(snapshot)
        return len(snapshot)

    def upsert(self, resource: dict[str, Any]) -> None:
        entry = entry_from_resource(resource)
        snapshot = self._holder.snapshot
        name = (resource.get("metadata") or {}).get("name")
        if entry is None:
            self._publish(snapshot.without(name) if isinstance(name, str) else snapshot)
        else:
            self._publish(snapshot.with_entry(entry))

    def remove(self, name: str) -> None:
        self._publish(self._holder.snapshot.without(name))

    def restarted(self, cause: str) -> None:
        self._holder.lost()
        self._metrics.watch_restarts.labels(cause).inc()

    def _publish(self, snapshot: IdentitySnapshot) -> None:
        self._holder.publish(snapshot, synced=True)
        self._metrics.index_tokens.set(len(snapshot))
        self._metrics.index_synced.set(1)


def sealtoken_watcher(client: KubeClient, holder: IndexHolder, metrics: WebhookMetrics) -> ListWatcher:
    return ListWatcher(client, SealTokenMirror(holder, metrics))
