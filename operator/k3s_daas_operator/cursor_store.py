"""The chain event cursor, persisted in a ConfigMap so a restarted operator resumes where it was.

The ConfigMap also records the package id: a cursor of another package (the operator pointed at
a new deployment) is not resumed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k3s_daas_operator import names
from k3s_daas_operator.kube import Conflict, KubeClient, NotFound, core_path


@dataclass
class CursorStore:
    kube: KubeClient
    namespace: str
    package_id: str
    _resource_version: str | None = None

    @property
    def _path(self) -> str:
        return core_path("configmaps", namespace=self.namespace)

    async def load(self) -> str | None:
        try:
            found = await self.kube.get(f"{self._path}/{names.CURSOR_CONFIGMAP}")
        except NotFound:
            self._resource_version = None
            return None
        self._resource_version = found["metadata"]["resourceVersion"]
        data = found.get("data") or {}
        if data.get("packageId") != self.package_id:
            return None
        return data.get("cursor") or None

    async def save(self, cursor: str) -> None:
        metadata: dict[str, Any] = {
            "name": names.CURSOR_CONFIGMAP,
            "namespace": self.namespace,
            "labels": {names.LABEL_MANAGED_BY: names.MANAGER},
        }
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": {"cursor": cursor, "packageId": self.package_id},
        }
        for _ in range(3):
            try:
                if self._resource_version is None:
                    saved = await self.kube.create(self._path, body)
                else:
                    metadata["resourceVersion"] = self._resource_version
                    saved = await self.kube.replace(f"{self._path}/{names.CURSOR_CONFIGMAP}", body)
            except (Conflict, NotFound):
                # Created or changed behind our back (a second operator, or a restore): re-read, then write ours.
                await self.load()
                metadata.pop("resourceVersion", None)
                continue
            self._resource_version = saved["metadata"]["resourceVersion"]
            return
        raise Conflict(409, f"could not save the event cursor in {self.namespace}/{names.CURSOR_CONFIGMAP}")
