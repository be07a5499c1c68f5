"""Kubernetes Events about SealTokens and StakedNodes, posted in the background.

Like client-go's event broadcaster, posting never slows reconciliation: events wait in a bounded
queue, are posted at most ``RATE_PER_S`` per second (a cold start of ten thousand objects would
otherwise spend a quarter of its API writes on Events), and are dropped (and counted) when the
queue is full. Events go to the ``default`` namespace, where ``kubectl describe`` finds them for
cluster-scoped objects.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from k3s_daas_operator import names
from k3s_daas_operator.kube import KubeClient, KubeError, core_path
from k3s_daas_operator.status import rfc3339

log = logging.getLogger(__name__)

QUEUE_SIZE: Final = 2000
RATE_PER_S: Final = 50.0
_MESSAGE_LIMIT: Final = 1024


@dataclass(frozen=True, slots=True)
class InvolvedObject:
    kind: str
    name: str
    uid: str


class EventRecorder:
    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._instance = socket.gethostname()
        self.dropped = 0

    def normal(self, about: InvolvedObject, reason: str, message: str) -> None:
        self._put(about, "Normal", reason, message)

    def warning(self, about: InvolvedObject, reason: str, message: str) -> None:
        self._put(about, "Warning", reason, message)

    def _put(self, about: InvolvedObject, type_: str, reason: str, message: str) -> None:
        now = rfc3339(datetime.now(UTC))
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{about.name}.", "namespace": names.EVENTS_NAMESPACE},
            "involvedObject": {
                "apiVersion": names.API_VERSION,
                "kind": about.kind,
                "name": about.name,
                "uid": about.uid,
            },
            "type": type_,
            "reason": reason,
            "message": message[:_MESSAGE_LIMIT],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": names.MANAGER},
            "reportingComponent": names.MANAGER,
            "reportingInstance": self._instance,
        }
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        path = core_path("events", namespace=names.EVENTS_NAMESPACE)
        while True:
            event = await self._queue.get()
            started = time.monotonic()
            try:
                await self._kube.create(path, event)
            except KubeError as error:
                log.warning("could not post an Event: %s", error)
            await asyncio.sleep(max(0.0, 1 / RATE_PER_S - (time.monotonic() - started)))
