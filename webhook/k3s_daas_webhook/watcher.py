"""Feed the identity index from a list + watch of SealToken resources.

List, publish a snapshot (the index is now synced: /readyz turns ready), then watch from the list's
resourceVersion and publish a new snapshot per change. A 410 Gone (the version fell out of etcd's
window) or any error other than a dropped stream means list again; a stream the server ended
normally is resumed from the last version seen (bookmarks keep it fresh). Errors back off
exponentially up to 30 s; the last good snapshot keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from k3s_daas_webhook.index import IdentitySnapshot, IndexHolder, entry_from_resource
from k3s_daas_webhook.kube import ApiError, KubeClient
from k3s_daas_webhook.metrics import WebhookMetrics

log = logging.getLogger(__name__)

SEALTOKENS_PATH: Final = "/apis/k3s-daas.io/v1alpha1/sealtokens"
_WATCH_TIMEOUT_S: Final = 300.0
_MAX_BACKOFF_S: Final = 30.0


class _Relist(Exception):
    """The watch cannot resume from its resourceVersion."""


class SealTokenWatcher:
    def __init__(
        self, client: KubeClient, holder: IndexHolder, metrics: WebhookMetrics, *, page_size: int = 500
    ) -> None:
        self._client = client
        self._holder = holder
        self._metrics = metrics
        self._page_size = page_size

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                version = await self._list()
                backoff = 0.5
                await self._watch(version)
            except _Relist:
                self._metrics.watch_restarts.labels("gone").inc()
                log.info("SealToken watch expired (410 Gone): listing again")
            except ApiError as error:
                self._metrics.watch_restarts.labels("error").inc()
                log.warning("SealToken list/watch failed, retrying in %.1f s: %s", backoff, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _list(self) -> str:
        entries = []
        params = {"limit": str(self._page_size)}
        while True:
            page = await self._client.get(SEALTOKENS_PATH, params)
            for item in page.get("items") or []:
                entry = entry_from_resource(item) if isinstance(item, dict) else None
                if entry is not None:
                    entries.append(entry)
            metadata = page.get("metadata") or {}
            next_page = metadata.get("continue")
            if not next_page:
                version = str(metadata.get("resourceVersion", ""))
                break
            params = {"limit": str(self._page_size), "continue": str(next_page)}
        self._publish(IdentitySnapshot.build(entries))
        log.info("SealToken index synced: %d tokens at resourceVersion %s", len(entries), version)
        return version

    async def _watch(self, version: str) -> None:
        while True:
            params = {"resourceVersion": version, "allowWatchBookmarks": "true"}
            received = False
            try:
                async for event in self._client.watch(SEALTOKENS_PATH, params, _WATCH_TIMEOUT_S):
                    received = True
                    version = self._apply(event, version)
            except ApiError as error:
                if error.status == 410:
                    raise _Relist from None
                if error.status != 0 or not received:
                    raise  # an error status, or no stream at all: back off and list again
                # A stream dropped after working: resume from the last version seen.
                self._metrics.watch_restarts.labels("dropped").inc()
                log.info("SealToken watch stream dropped, resuming at %s: %s", version, error.message)
                await asyncio.sleep(0.2)

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
        snapshot = self._holder.snapshot
        if kind == "DELETED":
            snapshot = snapshot.without(name)
        elif kind in ("ADDED", "MODIFIED"):
            entry = entry_from_resource(resource)
            snapshot = snapshot.without(name) if entry is None else snapshot.with_entry(entry)
        self._publish(snapshot)
        return new_version

    def _publish(self, snapshot: IdentitySnapshot) -> None:
        self._holder.publish(snapshot, synced=True)
        self._metrics.index_tokens.set(len(snapshot))
        self._metrics.index_synced.set(1)
