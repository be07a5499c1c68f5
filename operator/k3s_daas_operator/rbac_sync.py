"""Create, update and delete the RBAC objects of SealTokens, against the index of what exists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k3s_daas_operator import names
from k3s_daas_operator.context import Context
from k3s_daas_operator.index import RbacRecord
from k3s_daas_operator.kube import Conflict, KubeClient, NotFound, rbac_path
from k3s_daas_operator.rbac import fingerprint

ROLES = "clusterroles"
BINDINGS = "clusterrolebindings"


async def ensure(ctx: Context, kind: str, desired: Mapping[str, Any]) -> bool:
    """Make the object match ``desired``; True when something was written."""
    held = ctx.index.roles if kind == ROLES else ctx.index.bindings
    name = desired["metadata"]["name"]
    current = held.get(name)
    if current is not None and current.fingerprint == fingerprint(desired):
        return False
    written = await _write(ctx.kube, kind, desired, None if current is None else current.resource_version)
    held[name] = RbacRecord.of(written)
    return True


async def _write(kube: KubeClient, kind: str, desired: Mapping[str, Any], version: str | None) -> Mapping[str, Any]:
    path = rbac_path(kind)
    name = desired["metadata"]["name"]
    for _ in range(3):
        try:
            if version is None:
                return await kube.create(path, desired)
            body = {**desired, "metadata": {**desired["metadata"], "resourceVersion": version}}
            return await kube.replace(f"{path}/{name}", body)
        except Conflict:
            current = await kube.get(f"{path}/{name}")
            if fingerprint(current) == fingerprint(desired):
                return current
            version = current["metadata"]["resourceVersion"]
        except NotFound:
            version = None
    raise Conflict(409, f"{kind}/{name} kept changing while the operator wrote it")


async def remove(ctx: Context, sealtoken: str) -> bool:
    """Delete the SealToken's ClusterRoleBinding (first: it is what grants) and ClusterRole."""
    name = names.rbac_name(sealtoken)
    removed = False
    for kind, held in ((BINDINGS, ctx.index.bindings), (ROLES, ctx.index.roles)):
        if name in held:
            await ctx.kube.delete(rbac_path(kind, name))
            del held[name]
            removed = True
    return removed


async def load(ctx: Context) -> None:
    """Fill the index with the RBAC objects the operator owns (at start, and on every full resync)."""
    selector = {"labelSelector": names.LABEL_SEALTOKEN}
    roles = {o["metadata"]["name"]: RbacRecord.of(o) async for o in ctx.kube.list(rbac_path(ROLES), selector)}
    bindings = {o["metadata"]["name"]: RbacRecord.of(o) async for o in ctx.kube.list(rbac_path(BINDINGS), selector)}
    ctx.index.roles.clear()
    ctx.index.roles.update(roles)
    ctx.index.bindings.clear()
    ctx.index.bindings.update(bindings)
