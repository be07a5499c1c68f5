"""Test helpers for the chain layer: a controllable clock and a handle on a running localnet."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.localnet.server import BackgroundServer
from k3s_daas.localnet.store import ChainInfo, Store
from k3s_daas.settings import ChainSettings
from k3s_daas.sui.crypto import Keypair

GENESIS_MS = 1_700_000_000_000


class ManualClock:
    """The chain clock for a test: it says what it is told."""

    def __init__(self, now_ms: int = GENESIS_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@dataclass
class Localnet:
    store: Store
    server: BackgroundServer
    clock: ManualClock
    admin: Keypair
    info: ChainInfo

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def graphql_url(self) -> str:
        return self.server.graphql_url

    @property
    def package_id(self) -> str:
        return self.info.deployment.package.package_id

    def writer(self) -> LocalnetClient:
        return LocalnetClient(self.url)

    def chain_settings(self, **changes: object) -> ChainSettings:
        values: dict[str, object] = {"url": self.graphql_url, "package_id": self.package_id, "timeout_s": 5.0}
        values.update(changes)
        return ChainSettings(**values)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FaultyProxy:
    """A real HTTP proxy in front of a localnet's /graphql that misbehaves on request.

    ``faults`` maps a GraphQL operation name (``query Name``; "" for anonymous queries) to a list
    of actions consumed one per matching request: ``"503"``, ``"slow"`` (answers after
    ``slow_s``), ``"garbage"`` (a GraphQL answer of the wrong shape), ``"no-header"``.
    """

    def __init__(self, upstream: str, slow_s: float = 3.0) -> None:
        import asyncio
        import threading

        self.upstream = upstream
        self.slow_s = slow_s
        self.faults: dict[str, list[str]] = {}
        self.seen: list[str] = []
        self.strip_header = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: object = None
        self.port = 0

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> FaultyProxy:
        import asyncio

        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/graphql", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _handle(self, request: object) -> object:
        import asyncio
        import json
        import re

        import aiohttp
        from aiohttp import web

        assert isinstance(request, web.Request)
        body = await request.read()
        query = json.loads(body).get("query", "")
        found = re.search(r"query\s+(\w+)", query)
        name = found.group(1) if found else ""
        self.seen.append(name)
        actions = self.faults.get(name) or []
        action = actions.pop(0) if actions else ""
        if action == "503":
            return web.Response(status=503, text="unavailable")
        if action == "slow":
            await asyncio.sleep(self.slow_s)
        if action == "garbage":
            return web.json_response({"data": {"checkpoint": {"sequenceNumber": 1}, "objects": 5, "table": None}})
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.upstream, data=body, headers={"content-type": "application/json"}) as upstream,
        ):
            text = await upstream.read()
            headers = {} if self.strip_header else {"x-sui-rpc-version": upstream.headers["x-sui-rpc-version"]}
            return web.Response(body=text, status=upstream.status, content_type="application/json", headers=headers)

    def stop(self) -> None:
        import asyncio

        from aiohttp import web

        if isinstance(self._runner, web.AppRunner):
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
