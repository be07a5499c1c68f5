"""The executor's event cursor, in a ConfigMap: every request before it is settled (answered on chain).

It names the package too, so a cursor of another deployment is not resumed from. Two executors may
both write it; the last write wins, and a cursor that moved back only makes an executor look at
requests that the chain already says are answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from k3s_daas_operator.kube import Conflict, KubeClient, NotFound, core_path
from k3s_daas_operator.names import LABEL_MANAGED_BY
from k3s_daas_operator.onchain_requests.claims import MANAGER

CURSOR_CONFIGMAP: Final = "k3s-daas-onchain-requests-cursor"


@dataclass
class RequestCursor:
    kube: KubeClient
    namespace: str
    package_id: str

    @property
    def _path(self) -> str:
        return core_path("configmaps", CURSOR_CONFIGMAP, namespace=self.namespace)

    async def load(self) -> str | None:
        try:
            found = await self.kube.get(self._path)
        except NotFound:
            return None
        data = found.get("data") or {}
        if data.get("packageId") != self.package_id:
            return None
        cursor = data.get("cursor")
        return cursor if isinstance(cursor, str) and cursor else None

    async def save(self, cursor: str) -> None:
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CURSOR_CONFIGMAP, "namespace": self.namespace, "labels": {LABEL_MANAGED_BY: MANAGER}},
            "data": {"cursor": cursor, "packageId": self.package_id},
        }
        try:
            # A PUT without resourceVersion is an unconditional update: the last writer wins (see above).
            await self.kube.replace(self._path, body)
        except NotFound:
            try:
                await self.kube.create(core_path("configmaps", namespace=self.namespace), body)
            except Conflict:
                await self.kube.replace(self._path, body)
