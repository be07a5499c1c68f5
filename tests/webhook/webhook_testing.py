"""Test support for the webhook: a background event loop, HTTPS calls, SealToken objects, and a
small fake Kubernetes API (list/watch of SealTokens, StakedNodes, Secrets) over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import http.client
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
import yaml
from aiohttp import web

from k3s_daas.controlplane import pki
from k3s_daas.controlplane.kubeconfig import write_private
from k3s_daas.settings import WebhookSettings
from k3s_daas_webhook.admission_state import AdmissionSources
from k3s_daas_webhook.index import IndexHolder
from k3s_daas_webhook.server import Webhook, build

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread; `run` executes a coroutine there and returns its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path, name: str = "webhook") -> TLSFiles:
    ca = pki.new_ca(f"{name}-ca")
    serving = pki.issue(
        ca, name, server=True, dns_names=("localhost",), ip_addresses=(ipaddress.IPv4Address("127.0.0.1"),)
    )
    files = TLSFiles(directory / f"{name}-ca.crt", directory / f"{name}.crt", directory / f"{name}.key")
    write_private(files.ca, ca.cert_pem)
    write_private(files.cert, serving.cert_pem)
    write_private(files.key, serving.key_pem)
    return files


def client_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def call(
    port: int, ca: Path, method: str, path: str, body: Any = None, *, raw: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    """One HTTPS request; the answer decoded as JSON when it is JSON."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=client_context(ca), timeout=30)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    try:
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        headers = {key.lower(): value for key, value in response.getheaders()}
    finally:
        connection.close()
    if headers.get("content-type", "").startswith("application/json"):
        return response.status, headers, json.loads(payload)
    return response.status, headers, payload


def token_review(token: str, version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": f"authentication.k8s.io/{version}",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": ["https://kubernetes.default.svc"]},
    }


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sealtoken(
    name: str,
    owner: str,
    token_object: str,
    *,
    phase: str = "Active",
    role: str = "user",
    stake_mist: int = 600_000_000,
    expires_at: float,
    version: int = 1,
) -> dict[str, Any]:
    return {
        "apiVersion": "k3s-daas.io/v1alpha1",
        "kind": "SealToken",
        "metadata": {"name": name, "resourceVersion": str(version)},
        "spec": {"owner": owner, "tokenObject": token_object},
        "status": {"phase": phase, "role": role, "stakeMist": str(stake_mist), "expiresAt": rfc3339(expires_at)},
    }


def webhook_settings(tls: TLSFiles, **changes: Any) -> WebhookSettings:
    base = WebhookSettings(
        host="127.0.0.1",
        port=0,
        cert_file=str(tls.cert),
        key_file=str(tls.key),
        cluster_id="test-cluster",
        cert_reload_interval_s=0.1,
        verify_workers=0,  # inline: no worker processes to spawn per test (test_verifypool.py covers them)
        node_guard_policy="",  # on where a test asks for it (test_validate.py)
    )
    return dataclasses.replace(base, **changes)


class RunningWebhook:
    """The real server (app, TLS, verifier, watch) on a free port in a background loop."""

    def __init__(
        self,
        loop: LoopThread,
        settings: WebhookSettings,
        holder: IndexHolder | None,
        clock: Any,
        admission: AdmissionSources | None = None,
    ) -> None:
        self.loop = loop
        self.webhook: Webhook = build(settings, holder, clock or time.time, admission)
        self.ca = Path()

    def start(self, *, watch: bool) -> RunningWebhook:
        self.loop.run(self.webhook.start(watch=watch))
        return self

    @property
    def port(self) -> int:
        return self.webhook.port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.loop.run(self.webhook.stop())


@contextlib.contextmanager
def started_webhooks(
    loop: LoopThread, tls: TLSFiles, *, watch: bool = False, **fixed_settings: Any
) -> Iterator[Callable[..., RunningWebhook]]:
    """A function starting webhooks (index, clock, admission sources, watch and settings choosable, on top
    of ``fixed_settings``), each trusted through ``tls.ca``; all are stopped on exit."""
    started: list[RunningWebhook] = []

    def start(
        *,
        holder: IndexHolder | None = None,
        clock: Any = None,
        watch: bool = watch,
        admission: AdmissionSources | None = None,
        **settings: Any,
    ) -> RunningWebhook:
        config = webhook_settings(tls, **fixed_settings, **settings)
        webhook = RunningWebhook(loop, config, holder, clock, admission)
        webhook.ca = tls.ca
        started.append(webhook.start(watch=watch))
        return webhook

    try:
        yield start
    finally:
        for webhook in started:
            webhook.stop()


class FakeKubeApi:
    """Enough of the Kubernetes API for the webhook: list+watch of SealTokens, StakedNodes and
    Namespaces, Secret get, and ValidatingAdmissionPolicy get and replace (the node guard).

    Plain HTTP with a bearer token, so the webhook's kubeconfig loading and its client are real.
    """

    TOKEN = "fake-api-token"
    COLLECTIONS: ClassVar[dict[str, str]] = {
        "sealtokens": "/apis/k3s-daas.io/v1alpha1/sealtokens",
        "stakednodes": "/apis/k3s-daas.io/v1alpha1/stakednodes",
        "namespaces": "/api/v1/namespaces",
    }

    def __init__(self, loop: LoopThread) -> None:
        self.loop = loop
        self.version = 100
        self.collections: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.COLLECTIONS}
        self.secrets: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.watchers: dict[str, list[asyncio.Queue[dict[str, Any] | None]]] = {name: [] for name in self.COLLECTIONS}
        self.oldest_version = 0
        self.lists = 0
        self.unauthorized = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def sealtokens(self) -> dict[str, dict[str, Any]]:
        return self.collections["sealtokens"]

    @property
    def stakednodes(self) -> dict[str, dict[str, Any]]:
        return self.collections["stakednodes"]

    # -- server --
    async def _start(self) -> None:
        app = web.Application()
        for name, path in self.COLLECTIONS.items():
            app.router.add_get(path, functools.partial(self._collection, name))
        app.router.add_get("/api/v1/namespaces/kube-system/secrets/{name}", self._secret)
        policies = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/{name}"
        app.router.add_get(policies, self._policy)
        app.router.add_put(policies, self._policy)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def start(self) -> FakeKubeApi:
        self.loop.run(self._start())
        return self

    def stop(self) -> None:
        async def stop() -> None:
            for queues in self.watchers.values():
                for queue in queues:
                    queue.put_nowait(None)
            if self._runner is not None:
                await self._runner.cleanup()

        self.loop.run(stop())

    def kubeconfig(self, path: Path) -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "webhook", "user": {"token": self.TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "webhook"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(document))
        return path

    def _authorized(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {self.TOKEN}"
        self.unauthorized += not ok
        return ok

    async def _collection(self, name: str, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"kind": "Status", "code": 401, "message": "Unauthorized"}, status=401)
        if request.query.get("watch") != "1":
            self.lists += 1
            items = list(self.collections[name].values())
            return web.json_response(
                {"kind": "List", "metadata": {"resourceVersion": str(self.version)}, "items": items}
            )
        since = int(request.query.get("resourceVersion") or 0)
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        if since < self.oldest_version:
            gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}
            await response.write(json.dumps(gone).encode() + b"\n")
            return response
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.watchers[name].append(queue)
        try:
            while (event := await queue.get()) is not None:
                await response.write(json.dumps(event).encode() + b"\n")
                if event["type"] == "ERROR":
                    break
        finally:
            self.watchers[name].remove(queue)
        return response

    async def _secret(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"kind": "Status", "code": 401, "message": "Unauthorized"}, status=401)
        secret = self.secrets.get(request.match_info["name"])
        if secret is None:
            return web.json_response({"kind": "Status", "code": 404, "message": "not found"}, status=404)
        return web.json_response(secret)

    async def _policy(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"kind": "Status", "code": 401, "message": "Unauthorized"}, status=401)
        name = request.match_info["name"]
        current = self.policies.get(name)
        if current is None:
            return web.json_response({"kind": "Status", "code": 404, "message": "not found"}, status=404)
        if request.method == "GET":
            return web.json_response(current)
        document = await request.json()
        if document["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            return web.json_response({"kind": "Status", "code": 409, "message": "conflict"}, status=409)
        self.version += 1
        document["metadata"]["resourceVersion"] = str(self.version)
        self.policies[name] = document
        return web.json_response(document)

    # -- changes, as the operator would make them --
    def _emit(self, collection: str, kind: str, obj: dict[str, Any]) -> None:
        async def emit() -> None:
            for queue in self.watchers[collection]:
                queue.put_nowait({"type": kind, "object": obj})

        self.loop.run(emit())

    def put(self, collection: str, obj: dict[str, Any]) -> None:
        self.version += 1
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["resourceVersion"] = str(self.version)
        objects = self.collections[collection]
        kind = "MODIFIED" if obj["metadata"]["name"] in objects else "ADDED"
        objects[obj["metadata"]["name"]] = obj
        self._emit(collection, kind, obj)

    def delete(self, collection: str, name: str) -> None:
        self.version += 1
        obj = self.collections[collection].pop(name)
        self._emit(collection, "DELETED", obj)

    def put_sealtoken(self, obj: dict[str, Any]) -> None:
        self.put("sealtokens", obj)

    def delete_sealtoken(self, name: str) -> None:
        self.delete("sealtokens", name)

    def put_namespace(self, name: str, owner: str | None = None) -> None:
        annotations = {"k3s-daas.io/owner": owner} if owner else {}
        self.put(
            "namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "annotations": annotations}},
        )

    def compact(self) -> None:
        """Forget history: open watches get 410 Gone and must list again."""
        self.oldest_version = self.version + 1
        for collection in self.COLLECTIONS:
            self._emit(collection, "ERROR", {"kind": "Status", "code": 410, "message": "too old resource version"})

    def put_node(self, name: str, node_name: str, owner: str, phase: str, secret: str | None = None) -> None:
        status: dict[str, Any] = {"phase": phase}
        if secret:
            status["bootstrapTokenSecret"] = secret
        self.put(
            "stakednodes",
            {
                "apiVersion": "k3s-daas.io/v1alpha1",
                "kind": "StakedNode",
                "metadata": {"name": name},
                "spec": {"nodeName": node_name, "owner": owner, "stakeRecord": "0x" + "77" * 32},
                "status": status,
            },
        )

    def put_bootstrap_secret(self, staked_node: str, token_id: str, token_secret: str, expiration: str) -> str:
        name = f"bootstrap-token-{token_id}"

        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        self.secrets[name] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": name, "namespace": "kube-system", "labels": {"k3s-daas.io/staked-node": staked_node}},
            "data": {"token-id": b64(token_id), "token-secret": b64(token_secret), "expiration": b64(expiration)},
        }
        return name


# Fixtures of the webhook's protocol tests, imported by the conftests that use them (tests/webhook,
# tests/security) rather than copied.


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def start_webhook(loop_thread: LoopThread, tls: TLSFiles) -> Iterator[Callable[..., RunningWebhook]]:
    """Start webhooks (settings, index, clock choosable); all are stopped at the end of the test."""
    with started_webhooks(loop_thread, tls) as start:
        yield start


@pytest.fixture
def fake_api(loop_thread: LoopThread) -> Iterator[FakeKubeApi]:
    api = FakeKubeApi(loop_thread).start()
    yield api
    api.stop()
