"""The engine's own list+watch of SealTokens and StakedNodes, and the watch stream it reads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

from k3s_daas_operator.collection_watch import CollectionWatch, list_collection
from k3s_daas_operator.kube import Connection, KubeClient, KubeError


def obj(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": version}}


class FakeKube:
    """Pages for lists; scripted watch streams, one per watch request."""

    def __init__(self, pages: list[dict[str, Any]], streams: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.streams = streams
        self.list_params: list[dict[str, str]] = []
        self.watch_params: list[dict[str, str]] = []

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        self.list_params.append(dict(params or {}))
        return self.pages[len(self.list_params) - 1]

    async def watch(self, path: str, params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        self.watch_params.append(dict(params))
        if len(self.watch_params) > len(self.streams):
            await asyncio.Event().wait()  # nothing more happens
        for event in self.streams[len(self.watch_params) - 1]:
            if event.get("type") == "DROP":
                raise KubeError(0, "connection lost")
            yield event


async def test_list_collection_pages_at_the_first_pages_snapshot() -> None:
    kube = FakeKube(
        [
            {"metadata": {"resourceVersion": "10", "continue": "c1"}, "items": [obj("a", "5")]},
            {"metadata": {"resourceVersion": "10"}, "items": [obj("b", "7")]},
        ],
        [],
    )
    listing = await list_collection(kube, "/x")  # type: ignore[arg-type]
    assert [i["metadata"]["name"] for i in listing.items] == ["a", "b"]
    assert listing.resource_version == "10"
    assert kube.list_params[1]["continue"] == "c1"


async def test_watch_delivers_changes_resumes_and_relists_after_410() -> None:
    kube = FakeKube(
        [{"metadata": {"resourceVersion": "50"}, "items": [obj("a", "45")]}],
        [
            [
                {"type": "ADDED", "object": obj("a", "11")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
                {"type": "DROP"},
            ],
            [
                {"type": "DELETED", "object": obj("a", "21")},
                {"type": "ERROR", "object": {"code": 410, "message": "too old"}},
            ],
        ],
    )
    seen: list[tuple[str, str]] = []
    relisted: list[list[str]] = []
    watch = CollectionWatch(
        kube,  # type: ignore[arg-type]
        "/x",
        lambda kind, body: seen.append((kind, body["metadata"]["resourceVersion"])),
        lambda items: relisted.append([i["metadata"]["name"] for i in items]),
    )
    task = asyncio.create_task(watch.run("10"))
    for _ in range(100):
        if len(kube.watch_params) >= 3:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    assert seen == [("ADDED", "11"), ("DELETED", "21")]  # bookmarks move the version, nothing else
    assert [p["resourceVersion"] for p in kube.watch_params] == ["10", "20", "50"]
    assert relisted == [["a"]]
    assert kube.watch_params[0]["allowWatchBookmarks"] == "true"


async def test_kube_watch_splits_lines_across_chunks_of_any_size() -> None:
    big = {"metadata": {"name": "big", "resourceVersion": "2"}, "data": "x" * 200_000}
    lines = [json.dumps({"type": "ADDED", "object": obj("a", "1")}), json.dumps({"type": "MODIFIED", "object": big})]
    payload = ("\n".join(lines) + "\n").encode()
    seen_query: dict[str, str] = {}

    async def stream(request: web.Request) -> web.StreamResponse:
        seen_query.update(request.query)
        response = web.StreamResponse()
        await response.prepare(request)
        for start in range(0, len(payload), 7_001):  # chunks that cut lines anywhere
            await response.write(payload[start : start + 7_001])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/watched", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    kube = KubeClient(Connection(f"http://127.0.0.1:{port}", None, None, None, None))
    try:
        events = [e async for e in kube.watch("/watched", {"resourceVersion": "1"})]
    finally:
        await kube.close()
        await runner.cleanup()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED"]
    assert events[1]["object"]["data"] == big["data"]
    assert seen_query["watch"] == "true" and seen_query["resourceVersion"] == "1"


def test_a_relist_deletes_what_it_lacks_and_queues_deleted_tokens_for_revocation() -> None:
    from k3s_daas.settings import OperatorSettings
    from k3s_daas_operator.context import Context
    from k3s_daas_operator.engine import Engine
    from k3s_daas_operator.index import ClusterIndex, Key, Kind
    from k3s_daas_operator.workqueue import WorkQueue

    def token(name: str, version: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": version},
            "spec": {"owner": "0x" + "a" * 64, "tokenObject": "0x" + "c" * 64},
        }

    ctx = Context(OperatorSettings(), None, None, ClusterIndex(), WorkQueue(), None, None)  # type: ignore[arg-type]
    engine = Engine(ctx, lambda _engine: None)  # type: ignore[arg-type,return-value]
    for name in ("kept", "gone"):
        ctx.index.upsert_sealtoken(token(name, "5"))
    engine.relisted_sealtokens([token("kept", "5"), token("new", "9")])
    assert set(ctx.index.sealtokens) == {"kept", "new"}
    # The deleted one is queued (its shared role must be released), the new one to be verified;
    # the unchanged one is not.
    assert set(ctx.queue._dirty) == {Key(Kind.SEALTOKEN, "gone"), Key(Kind.SEALTOKEN, "new")}


def test_the_watch_echo_of_the_operators_own_write_is_not_work() -> None:
    from k3s_daas_operator.index import ClusterIndex

    index = ClusterIndex()
    body = {
        "metadata": {"name": "t", "uid": "u", "resourceVersion": "7", "generation": 1},
        "spec": {"owner": "0x" + "a" * 64, "tokenObject": "0x" + "c" * 64},
        "status": {"phase": "Active"},
    }
    assert index.upsert_sealtoken(body) is not None  # the answer to a status write
    assert index.upsert_sealtoken(body) is None  # the same version again, from the watch
    assert index.upsert_sealtoken({**body, "metadata": {**body["metadata"], "resourceVersion": "8"}}) is not None
