"""Create, update and delete the RBAC of SealTokens, against the index of what exists.

Every Active token has its own ClusterRoleBinding to the ClusterRole shared by all tokens granted
the same rules (rbac.py). A role is claimed (role_claims) before a binding may name it and
deleted once its last claim is released. Creating and deleting one role is serialized by a lock
per role name; a role leaves the index before its delete is sent, so a grant racing with that
delete creates it again instead of binding to a role about to vanish.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from k3s_daas.permissions import Permission
from k3s_daas_operator import names, rbac
from k3s_daas_operator.context import Context
from k3s_daas_operator.index import RbacRecord
from k3s_daas_operator.kube import Conflict, KubeClient, NotFound, rbac_path
from k3s_daas_operator.resources import SealTokenResource

log = logging.getLogger(__name__)

ROLES = "clusterroles"
BINDINGS = "clusterrolebindings"


async def grant(ctx: Context, sealtoken: SealTokenResource, grants: Iterable[Permission]) -> None:
    """Bind ``User sui:<owner>`` to the shared role holding ``grants``, creating the role if needed."""
    role = rbac.cluster_role(grants)
    role_name = role["metadata"]["name"]
    ctx.claims.claim(sealtoken.name, role_name)
    if not _matches(ctx.index.roles, role):
        async with ctx.role_locks.hold(role_name):
            await _ensure(ctx, ROLES, role)
    await _ensure_binding(ctx, rbac.cluster_role_binding(sealtoken.name, sealtoken.uid, sealtoken.owner, role_name))
    # The binding has moved off any role it named before (its grants changed, or a per-token role
    # of an earlier version): release those.
    for old in ctx.claims.roles_of(sealtoken.name) - {role_name}:
        ctx.claims.release(sealtoken.name, old)
        await _collect(ctx, old)


async def revoke(ctx: Context, sealtoken: str) -> bool:
    """Delete the token's binding (what grants), then release its role; True when a binding went."""
    name = names.rbac_name(sealtoken)
    removed = False
    if name in ctx.index.bindings:
        await ctx.kube.delete(rbac_path(BINDINGS, name))
        del ctx.index.bindings[name]
        removed = True
    for role in ctx.claims.release_all(sealtoken):
        await _collect(ctx, role)
    return removed


async def load(ctx: Context) -> set[str]:
    """Fill the index with the RBAC objects the operator owns (at start, and on every full resync),
    claim the roles the bindings name, and delete the roles nothing claims (left by a crash between
    a binding's delete and its role's, or per-token roles of earlier versions). Returns the
    SealTokens that have a binding: one whose SealToken is gone needs reconciling (revoking)."""
    roles: dict[str, RbacRecord] = {}
    # Shared roles, then per-token roles (``k3s-daas:sealtoken:<name>``) written by earlier versions.
    for label in (names.LABEL_GRANTS, names.LABEL_SEALTOKEN):
        async for body in ctx.kube.list(rbac_path(ROLES), {"labelSelector": label}):
            roles[body["metadata"]["name"]] = RbacRecord.of(body)
    selector = {"labelSelector": names.LABEL_SEALTOKEN}
    bindings = {o["metadata"]["name"]: RbacRecord.of(o) async for o in ctx.kube.list(rbac_path(BINDINGS), selector)}
    ctx.index.roles.clear()
    ctx.index.roles.update(roles)
    ctx.index.bindings.clear()
    ctx.index.bindings.update(bindings)
    holders: set[str] = set()
    for name, record in bindings.items():
        sealtoken = names.sealtoken_of_binding(name)
        if sealtoken is not None and record.role_ref:
            ctx.claims.claim(sealtoken, record.role_ref)
            holders.add(sealtoken)
    for role in ctx.claims.unclaimed(roles):
        await _collect(ctx, role)
    return holders


def _matches(held: Mapping[str, RbacRecord], desired: Mapping[str, Any]) -> bool:
    current = held.get(desired["metadata"]["name"])
    return current is not None and current.fingerprint == rbac.fingerprint(desired)


async def _ensure(ctx: Context, kind: str, desired: Mapping[str, Any]) -> bool:
    """Make the object match ``desired``; True when something was written."""
    held = ctx.index.roles if kind == ROLES else ctx.index.bindings
    if _matches(held, desired):
        return False
    current = held.get(desired["metadata"]["name"])
    written = await _write(ctx.kube, kind, desired, None if current is None else current.resource_version)
    held[desired["metadata"]["name"]] = RbacRecord.of(written)
    return True


async def _ensure_binding(ctx: Context, desired: Mapping[str, Any]) -> None:
    name = desired["metadata"]["name"]
    current = ctx.index.bindings.get(name)
    if current is not None and current.role_ref != rbac.role_ref(desired):
        # roleRef is immutable: the binding is replaced. In between the token has no grant,
        # never more than it should.
        await ctx.kube.delete(rbac_path(BINDINGS, name))
        del ctx.index.bindings[name]
    await _ensure(ctx, BINDINGS, desired)


async def _collect(ctx: Context, role: str) -> None:
    """Delete ``role`` if no token claims it."""
    async with ctx.role_locks.hold(role):
        if ctx.claims.in_use(role) or role not in ctx.index.roles:
            return
        # Out of the index first: a grant arriving meanwhile waits for this lock, then creates it anew.
        del ctx.index.roles[role]
        await ctx.kube.delete(rbac_path(ROLES, role))
        log.info("deleted ClusterRole %s: no SealToken uses it any more", role)


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
            if rbac.fingerprint(current) == rbac.fingerprint(desired):
                return current
            if rbac.role_ref(current) != rbac.role_ref(desired):
                # A binding to another role (written before a restart): roleRef cannot be updated.
                await kube.delete(f"{path}/{name}")
                version = None
                continue
            version = current["metadata"]["resourceVersion"]
        except NotFound:
            version = None
    raise Conflict(409, f"{kind}/{name} kept changing while the operator wrote it")
