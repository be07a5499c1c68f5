"""Publish when chain state was last confirmed, for the webhook's staleness gate (k3s_daas.chain_heartbeat).

"Confirmed" is decided by the engine (the event stream read to its end, every earlier event applied,
no object waiting on a failed chain read); this module only writes it, never backwards, and says
once (not every interval) when it cannot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from k3s_daas.chain_heartbeat import LEASE_NAME, heartbeat_body, leases_path
from k3s_daas_operator.kube import KubeClient, KubeError, NotFound

log = logging.getLogger(__name__)


@dataclass
class HeartbeatPublisher:
    kube: KubeClient
    namespace: str
    holder: str
    package_id: str
    written: float = 0.0
    """The confirmation time last written (Unix seconds)."""
    _failing: bool = False

    async def publish(self, confirmed_at: float, checkpoint: int | None) -> None:
        if confirmed_at <= self.written:
            return
        body = heartbeat_body(self.namespace, self.holder, confirmed_at, checkpoint, self.package_id)
        path = leases_path(self.namespace, LEASE_NAME)
        try:
            try:
                await self.kube.merge_patch(
                    path, {"metadata": {"annotations": body["metadata"]["annotations"]}, "spec": body["spec"]}
                )
            except NotFound:
                await self.kube.create(leases_path(self.namespace), body)
        except KubeError as error:
            if not self._failing:
                log.warning(
                    "cannot publish the chain heartbeat %s/%s (%s): the webhook cannot tell how fresh chain "
                    "state is (does the operator's RBAC allow leases? docs/failure-modes.md)",
                    self.namespace,
                    LEASE_NAME,
                    error,
                )
            self._failing = True
            return
        if self._failing:
            log.info("chain heartbeat published again")
        self._failing = False
        self.written = confirmed_at
