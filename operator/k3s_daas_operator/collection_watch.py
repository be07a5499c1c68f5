"""List, then watch, one collection on the engine's own loop (the informer pattern, without a cache).

SealTokens and StakedNodes are watched here rather than through kopf: every status write of the
operator comes back as a watch event, ten thousand of them in a cold start, and kopf's
per-object machinery (a worker task per object, cause detection, a thread hop per sync handler)
spent about 40% of the operator's CPU on events that change nothing. Here an event costs a JSON
decode and a resourceVersion comparison. kopf still runs the operator's framework side: login,
settings and the Node watch (runtime.py, handlers.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from k3s_daas_operator.kube import WATCH_SERVER_TIMEOUT_S, Gone, KubeClient, KubeError

log = logging.getLogger(__name__)

_RETRY_CAP_S: Final = 10.0

OnEvent = Callable[[str, Mapping[str, Any]], None]
"""(ADDED | MODIFIED | DELETED, object)"""
OnRelist = Callable[[list[dict[str, Any]]], None]
"""Every object that exists, after the watch lost track (410 Gone): what is not there was deleted."""


@dataclass(frozen=True, slots=True)
class Listing:
    items: list[dict[str, Any]]
    resource_version: str
    """The snapshot the pages were read at: a watch from here misses nothing."""


async def list_collection(kube: KubeClient, path: str) -> Listing:
    items: list[dict[str, Any]] = []
    query = {"limit": "500"}
    version = ""
    while True:
        page = await kube.request("GET", path, params=query)
        meta = page.get("metadata") or {}
        # Continued pages are read at the first page's snapshot and carry its version.
        version = version or str(meta.get("resourceVersion") or "")
        items.extend(page.get("items") or [])
        if not meta.get("continue"):
            return Listing(items, version)
        query["continue"] = str(meta["continue"])


class CollectionWatch:
    def __init__(self, kube: KubeClient, path: str, on_event: OnEvent, on_relist: OnRelist) -> None:
        self._kube = kube
        self._path = path
        self._on_event = on_event
        self._on_relist = on_relist
        self.resource_version = ""

    async def run(self, resource_version: str) -> None:
        """Deliver every change after ``resource_version``, forever; reconnects and relists itself."""
        self.resource_version = resource_version
        delay, relist = 0.5, not resource_version
        while True:
            try:
                if relist:
                    listing = await list_collection(self._kube, self._path)
                    self._on_relist(listing.items)
                    self.resource_version, relist = listing.resource_version, False
                await self._follow()
                delay = 0.5
            except Gone:
                log.info("watch of %s expired (410): listing again", self._path)
                relist = True
            except KubeError as error:
                log.warning("watch of %s failed (%s); retrying in %.1f s", self._path, error, delay)
                await asyncio.sleep(delay)
                delay = min(_RETRY_CAP_S, delay * 2)

    async def _follow(self) -> None:
        params = {
            "resourceVersion": self.resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SERVER_TIMEOUT_S),
        }
        async for event in self._kube.watch(self._path, params):
            kind, body = str(event.get("type")), event.get("object") or {}
            if kind == "ERROR":
                code = int(body.get("code") or 0)
                message = f"WATCH {self._path}: {code} {body.get('message', '')}"
                raise Gone(code, message) if code == 410 else KubeError(code, message)
            version = (body.get("metadata") or {}).get("resourceVersion")
            if isinstance(version, str) and version:
                self.resource_version = version
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._on_event(kind, body)
