"""Leader election on a ``coordination.k8s.io/v1`` Lease, so operator replicas are active-standby.

kopf's peering is not this: same-priority peers only warn and keep running (kopf's own docstring:
"NO per-object locks between the operators"), and it would only pause kopf's handlers, while the
engine watches, follows the chain and writes on its own (docs/replicas.md). So the whole operator
runs only while it holds the Lease ``k3s-daas-operator``, as client-go's leaderelection does:

* a standby takes the Lease once its record (holder, renewTime, resourceVersion) has not changed for
  ``LEASE_DURATION_S`` *by its own monotonic clock*, counted from when a read *returned* that record
  (no wall-clock comparison between machines);
* the leader renews every ``RETRY_PERIOD_S``. Its last successful renewal attempt started at
  ``renewed_at``; every later attempt (read and write) runs under ``asyncio.timeout`` ending at
  ``renewed_at + RENEW_DEADLINE_S``, so however slow or hung the API server, ``hold`` raises
  LostLeadership by that time, and at once when a read shows another holder. The record a standby
  counts from was written after ``renewed_at``, so it may take over no earlier than
  ``renewed_at + LEASE_DURATION_S``: the old leader has been told to stop ``LEASE_DURATION_S -
  RENEW_DEADLINE_S`` (5 s) earlier (assuming both monotonic clocks run at the same rate and the event
  loop is not blocked that long). A write cut off by the deadline may still land: it only delays a
  standby;
* every write carries the read's resourceVersion: two candidates never both win;
* on a clean stop the leader releases the Lease so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from k3s_daas.chain_heartbeat import leases_path, micro_time
from k3s_daas_operator.kube import Conflict, KubeClient, KubeError, NotFound

log = logging.getLogger(__name__)

LEASE_NAME: Final = "k3s-daas-operator"
LEASE_DURATION_S: Final = 15
RENEW_DEADLINE_S: Final = 10.0
RETRY_PERIOD_S: Final = 2.0


class LostLeadership(Exception):
    """The Lease could not be renewed in time: another replica may take over, so stop now."""


def new_identity() -> str:
    """Pod name (the hostname in a pod), pid and a random suffix: unique even across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def may_take(holder: str, me: str, unchanged_for_s: float, lease_duration_s: float) -> bool:
    """Pure: may ``me`` write itself into a Lease held by ``holder`` whose record has not changed for
    ``unchanged_for_s`` (own clock)?"""
    return not holder or holder == me or unchanged_for_s >= lease_duration_s


@dataclass
class LeaderElector:
    kube: KubeClient
    namespace: str
    identity: str
    clock: Callable[[], float] = time.monotonic
    _observed: tuple[str, str, str] | None = None
    _observed_at: float = 0.0
    _renewed_at: float = 0.0

    @property
    def _path(self) -> str:
        return leases_path(self.namespace, LEASE_NAME)

    async def acquire(self) -> None:
        """Return once this instance holds the Lease."""
        announced = False
        while not await self.try_acquire_or_renew():
            if not announced:
                log.info("standing by: another operator holds the Lease %s/%s", self.namespace, LEASE_NAME)
                announced = True
            await asyncio.sleep(RETRY_PERIOD_S)
        log.info("leading: holding the Lease %s/%s as %s", self.namespace, LEASE_NAME, self.identity)

    async def hold(self) -> None:
        """Renew every ``RETRY_PERIOD_S``; raise LostLeadership once ``RENEW_DEADLINE_S`` have passed since
        the last successful renewal began (an attempt in flight is cut off then), or at once when
        another replica holds the Lease."""
        while True:
            await asyncio.sleep(RETRY_PERIOD_S)
            await self.renew()

    async def renew(self) -> None:
        """One renewal attempt, bounded by the renew deadline."""
        lost = f"could not renew the Lease {self.namespace}/{LEASE_NAME} within {RENEW_DEADLINE_S:g} s"
        remaining = self._renewed_at + RENEW_DEADLINE_S - self.clock()
        if remaining <= 0:
            raise LostLeadership(lost)
        try:
            async with asyncio.timeout(remaining):
                renewed = await self.try_acquire_or_renew()
        except TimeoutError:
            raise LostLeadership(f"{lost}: the API server did not answer in time") from None
        except KubeError as error:
            log.warning("renewing the Lease failed: %s", error)
            renewed = False
        holder = self._observed[0] if self._observed is not None else ""
        if not renewed and holder not in ("", self.identity):
            raise LostLeadership(f"the Lease {self.namespace}/{LEASE_NAME} is held by {holder}")
        if not renewed and self.clock() - self._renewed_at >= RENEW_DEADLINE_S:
            raise LostLeadership(lost)

    async def try_acquire_or_renew(self) -> bool:
        now = self.clock()
        try:
            lease = await self.kube.get(self._path)
        except NotFound:
            try:
                await self.kube.create(leases_path(self.namespace), self._body(None, transitions=0, acquired=True))
            except Conflict:
                return False
            self._renewed_at = now
            return True
        # Counted from when the read returned, not when it was sent: a slow read must not make a record
        # look older than it is.
        read_at = self.clock()
        spec: dict[str, Any] = lease.get("spec") or {}
        metadata: dict[str, Any] = lease.get("metadata") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""), str(metadata.get("resourceVersion") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, read_at
        if not may_take(holder, self.identity, read_at - self._observed_at, LEASE_DURATION_S):
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        body = self._body(metadata.get("resourceVersion"), transitions, acquired=holder != self.identity)
        if holder == self.identity and spec.get("acquireTime"):
            body["spec"]["acquireTime"] = spec["acquireTime"]
        try:
            await self.kube.replace(self._path, body)
        except Conflict:
            return False  # someone else wrote first: read again next round
        # ``now`` (before the read), not the time the write returned: the deadline must count from a
        # moment no later than the record a standby will see.
        self._renewed_at = now
        return True

    async def release(self) -> None:
        """Give the Lease up (clean stop): a standby need not wait for it to expire."""
        try:
            lease = await self.kube.get(self._path)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"] = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
            await self.kube.replace(self._path, lease)
        except KubeError as error:
            log.warning("could not release the Lease: %s", error)

    def _body(self, version: object, transitions: int, *, acquired: bool) -> dict[str, Any]:
        now = micro_time(time.time())
        metadata: dict[str, Any] = {"name": LEASE_NAME, "namespace": self.namespace}
        if version is not None:
            metadata["resourceVersion"] = str(version)
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": LEASE_DURATION_S,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        if acquired:
            spec["acquireTime"] = now
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}
