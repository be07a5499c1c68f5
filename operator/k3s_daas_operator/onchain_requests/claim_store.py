"""Claims as ConfigMaps in the executor's namespace (``claims`` holds the format and the rules)."""

from __future__ import annotations

from dataclasses import dataclass

from k3s_daas_operator.kube import Conflict, KubeClient, NotFound, core_path
from k3s_daas_operator.onchain_requests.claims import Claim, claim_name, from_configmap, to_configmap
from k3s_daas_operator.onchain_requests.requests import ChainRequest


@dataclass
class ClaimStore:
    kube: KubeClient
    namespace: str
    gateway_id: str

    def _path(self, request_id: int | None = None) -> str:
        name = "" if request_id is None else claim_name(self.gateway_id, request_id)
        return core_path("configmaps", name, namespace=self.namespace)

    async def get(self, request_id: int) -> Claim | None:
        try:
            return from_configmap(await self.kube.get(self._path(request_id)))
        except NotFound:
            return None

    async def create(self, request: ChainRequest, claim: Claim) -> Claim | None:
        """The claim as created; None when another executor created it first (409)."""
        body = to_configmap(claim_name(self.gateway_id, request.request_id), self.namespace, request, claim)
        try:
            return from_configmap(await self.kube.create(self._path(), body))
        except Conflict:
            return None

    async def replace(self, request: ChainRequest, claim: Claim) -> Claim | None:
        """The claim as written; None when it changed since ``claim.resource_version`` was read (409)."""
        name = claim_name(self.gateway_id, request.request_id)
        try:
            return from_configmap(
                await self.kube.replace(
                    self._path(request.request_id), to_configmap(name, self.namespace, request, claim)
                )
            )
        except Conflict:
            return None
