"""Shared ClusterRoles: one per distinct rule set, created once, deleted with its last binding.

rbac_sync runs against an in-memory stand-in for the API server's RBAC collections that keeps
resourceVersions, answers 409/404 like the real one, refuses a roleRef change, and yields to the
event loop inside every request, so concurrent grants and revocations really interleave.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from k3s_daas.permissions import Permission
from k3s_daas.settings import OperatorSettings
from k3s_daas_operator import rbac, rbac_sync
from k3s_daas_operator.context import Context
from k3s_daas_operator.index import ClusterIndex
from k3s_daas_operator.keyed_locks import KeyedLocks
from k3s_daas_operator.kube import Conflict, KubeError, NotFound
from k3s_daas_operator.resources import SealTokenResource
from k3s_daas_operator.role_claims import RoleClaims

OWNER = "0x" + "a" * 64
TOKEN = "0x" + "c" * 64
READ_PODS = (Permission.parse("pods:read"),)
GET_CONFIGMAPS = (Permission.parse("configmaps:get"),)
PREFIX = "/apis/rbac.authorization.k8s.io/v1/"


class FakeRbacApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"clusterroles": {}, "clusterrolebindings": {}}
        self.version = 100
        self.writes: list[tuple[str, str, str]] = []
        self.role_delete_gate: asyncio.Event | None = None
        """When set: a ClusterRole delete waits for it (``role_delete_pending`` says one does)."""
        self.role_delete_pending = asyncio.Event()

    def _split(self, path: str) -> tuple[str, str]:
        kind, _, name = path.removeprefix(PREFIX).partition("/")
        return kind, name

    def _store(self, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[kind][stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        kind, _ = self._split(path)
        name = body["metadata"]["name"]
        if name in self.objects[kind]:
            raise Conflict(409, f"{kind}/{name} exists")
        self.writes.append(("create", kind, name))
        return self._store(kind, body)

    async def replace(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        kind, name = self._split(path)
        current = self.objects[kind].get(name)
        if current is None:
            raise NotFound(404, name)
        if current["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
            raise Conflict(409, "stale")
        if kind == "clusterrolebindings" and current["roleRef"] != body["roleRef"]:
            raise KubeError(422, "roleRef is immutable")
        self.writes.append(("replace", kind, name))
        return self._store(kind, body)

    async def get(self, path: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        kind, name = self._split(path)
        if name not in self.objects[kind]:
            raise NotFound(404, name)
        return copy.deepcopy(self.objects[kind][name])

    async def delete(self, path: str, *, missing_ok: bool = True) -> bool:
        await asyncio.sleep(0)
        kind, name = self._split(path)
        if kind == "clusterroles" and self.role_delete_gate is not None:
            self.role_delete_pending.set()
            await self.role_delete_gate.wait()
        if self.objects[kind].pop(name, None) is None:
            if not missing_ok:
                raise NotFound(404, name)
            return False
        self.writes.append(("delete", kind, name))
        return True

    async def list(self, path: str, params: Mapping[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
        kind, _ = self._split(path)
        label = (params or {}).get("labelSelector", "")
        for body in list(self.objects[kind].values()):
            if label in (body["metadata"].get("labels") or {}):
                yield copy.deepcopy(body)

    def roles(self) -> set[str]:
        return set(self.objects["clusterroles"])

    def binding_role(self, sealtoken: str) -> str | None:
        body = self.objects["clusterrolebindings"].get(f"k3s-daas:sealtoken:{sealtoken}")
        return None if body is None else str(body["roleRef"]["name"])


def make_ctx(api: FakeRbacApi) -> Context:
    # Only the RBAC parts of the context are used here.
    return Context(
        settings=OperatorSettings(),
        kube=api,  # type: ignore[arg-type]
        view=None,  # type: ignore[arg-type]
        index=ClusterIndex(),
        queue=None,  # type: ignore[arg-type]
        recorder=None,  # type: ignore[arg-type]
        metrics=None,  # type: ignore[arg-type]
    )


def token(name: str) -> SealTokenResource:
    return SealTokenResource(name, f"uid-{name}", 1, OWNER, TOKEN)


def role_name(grants: tuple[Permission, ...]) -> str:
    return str(rbac.cluster_role(grants)["metadata"]["name"])


async def test_one_role_per_rule_set_created_once_and_deleted_with_its_last_token() -> None:
    api = FakeRbacApi()
    ctx = make_ctx(api)
    shared = role_name(READ_PODS)
    await asyncio.gather(*(rbac_sync.grant(ctx, token(f"t{i}"), READ_PODS) for i in range(20)))
    assert api.roles() == {shared}
    assert [w for w in api.writes if w[1] == "clusterroles"] == [("create", "clusterroles", shared)]
    assert {api.binding_role(f"t{i}") for i in range(20)} == {shared}
    # Reconciling again writes nothing.
    before = len(api.writes)
    await rbac_sync.grant(ctx, token("t0"), READ_PODS)
    assert len(api.writes) == before

    for i in range(19):
        assert await rbac_sync.revoke(ctx, f"t{i}")
        assert api.roles() == {shared}, "a role still bound must stay"
    assert await rbac_sync.revoke(ctx, "t19")
    assert api.roles() == set() and not api.objects["clusterrolebindings"]
    assert not await rbac_sync.revoke(ctx, "t19")  # nothing left to do
    assert len(ctx.role_locks) == 0


async def test_a_token_whose_grants_change_moves_to_the_other_role() -> None:
    api = FakeRbacApi()
    ctx = make_ctx(api)
    await rbac_sync.grant(ctx, token("a"), READ_PODS)
    await rbac_sync.grant(ctx, token("b"), READ_PODS)
    await rbac_sync.grant(ctx, token("a"), GET_CONFIGMAPS)
    assert api.binding_role("a") == role_name(GET_CONFIGMAPS)
    assert api.roles() == {role_name(READ_PODS), role_name(GET_CONFIGMAPS)}  # b still uses the first
    await rbac_sync.grant(ctx, token("b"), GET_CONFIGMAPS)
    assert api.roles() == {role_name(GET_CONFIGMAPS)}


async def test_a_grant_racing_the_delete_of_its_role_recreates_it() -> None:
    api = FakeRbacApi()
    ctx = make_ctx(api)
    await rbac_sync.grant(ctx, token("a"), READ_PODS)
    # a's revocation is deleting the role (its last user) when b is granted the same rules.
    api.role_delete_gate = asyncio.Event()
    revoking = asyncio.create_task(rbac_sync.revoke(ctx, "a"))
    await asyncio.wait_for(api.role_delete_pending.wait(), 1)
    granting = asyncio.create_task(rbac_sync.grant(ctx, token("b"), READ_PODS))
    await asyncio.sleep(0.01)  # b goes as far as it can while the delete is in flight
    api.role_delete_gate.set()
    await asyncio.gather(revoking, granting)
    assert api.binding_role("b") == role_name(READ_PODS)
    assert api.roles() == {role_name(READ_PODS)}, "b's binding must not name a deleted role"
    assert role_name(READ_PODS) in ctx.index.roles


@pytest.mark.parametrize("order", ["revoke-first", "grant-first"])
async def test_interleavings_never_leave_a_binding_without_its_role(order: str) -> None:
    api = FakeRbacApi()
    ctx = make_ctx(api)
    names = [f"t{i}" for i in range(10)]
    await asyncio.gather(*(rbac_sync.grant(ctx, token(n), READ_PODS) for n in names))
    revokes = [rbac_sync.revoke(ctx, n) for n in names]
    grants = [rbac_sync.grant(ctx, token(f"new{i}"), READ_PODS) for i in range(3)]
    await asyncio.gather(*(revokes + grants if order == "revoke-first" else grants + revokes))
    assert api.roles() == {role_name(READ_PODS)}
    assert {api.binding_role(f"new{i}") for i in range(3)} == {role_name(READ_PODS)}


async def test_load_claims_bound_roles_and_sweeps_the_rest() -> None:
    api = FakeRbacApi()
    ctx = make_ctx(api)
    await rbac_sync.grant(ctx, token("kept"), READ_PODS)
    # Left behind by a crash: a shared role without bindings, and a per-token role of an earlier
    # version, still bound by its token's old binding.
    orphan = rbac.cluster_role(GET_CONFIGMAPS)
    await api.create(PREFIX + "clusterroles", orphan)
    legacy = {
        "metadata": {"name": "k3s-daas:sealtoken:old", "labels": {"k3s-daas.io/sealtoken": "old"}},
        "rules": [],
    }
    await api.create(PREFIX + "clusterroles", legacy)
    old_binding = rbac.cluster_role_binding("old", "uid-old", OWNER, "k3s-daas:sealtoken:old")
    await api.create(PREFIX + "clusterrolebindings", old_binding)

    fresh = make_ctx(api)  # a restarted operator
    holders = await rbac_sync.load(fresh)
    assert holders == {"kept", "old"}
    assert api.roles() == {role_name(READ_PODS), "k3s-daas:sealtoken:old"}
    # The old token, still Active, moves to the shared role; its per-token role goes.
    await rbac_sync.grant(fresh, token("old"), READ_PODS)
    assert api.binding_role("old") == role_name(READ_PODS)
    assert api.roles() == {role_name(READ_PODS)}
    # A token deleted while the operator was down: revoking it (the engine does, for holders
    # without a SealToken) frees the role once nothing else uses it.
    await rbac_sync.revoke(fresh, "kept")
    await rbac_sync.revoke(fresh, "old")
    assert api.roles() == set()


async def test_a_binding_written_elsewhere_to_another_role_is_replaced() -> None:
    api = FakeRbacApi()
    ctx = make_ctx(api)
    stray = rbac.cluster_role_binding("a", "uid-a", OWNER, "some-other-role")
    await api.create(PREFIX + "clusterrolebindings", stray)
    await rbac_sync.grant(ctx, token("a"), READ_PODS)  # the index does not know the stray binding
    assert api.binding_role("a") == role_name(READ_PODS)


def test_role_claims_count_users_per_role() -> None:
    claims = RoleClaims()
    claims.claim("a", "r1")
    claims.claim("b", "r1")
    claims.claim("a", "r2")
    assert claims.roles_of("a") == {"r1", "r2"} and claims.unclaimed(["r1", "r2", "r3"]) == ["r3"]
    claims.release("a", "r1")
    assert claims.in_use("r1") and claims.roles_of("a") == {"r2"}
    assert claims.release_all("b") == {"r1"} and not claims.in_use("r1")
    assert claims.release_all("nobody") == set()


async def test_keyed_locks_serialize_one_key_and_forget_it_afterwards() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def hold(key: str, tag: str) -> None:
        async with locks.hold(key):
            order.append(f"{tag}+")
            await asyncio.sleep(0.01)
            order.append(f"{tag}-")

    await asyncio.gather(hold("k", "a"), hold("k", "b"), hold("other", "c"))
    assert order.index("a-") < order.index("b+")  # the same key never overlaps
    assert order.index("c+") < order.index("a-")  # another key does not wait
    assert len(locks) == 0
