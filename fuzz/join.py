"""Fuzz POST /join through the real aiohttp application, wired to a Kubernetes API on loopback that
serves the StakedNode list and the node's bootstrap-token Secret: every body gets a JoinResponse
(200) or a JoinRefusal with its documented status, never a 500.

Each input is sent twice: as the raw body, and as the signed request inside a well-formed JoinRequest.

    python fuzz/join.py -runs=3000 fuzz/corpus/join
"""

from __future__ import annotations

import base64
import json
from typing import Any

import _harness

_harness.instrumented("k3s_daas.sealtoken", "k3s_daas_webhook", load=("k3s_daas_webhook.app",))

from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from k3s_daas_webhook.app import create_app  # noqa: E402
from k3s_daas_webhook.caches import ReplayGuard  # noqa: E402
from k3s_daas_webhook.join import JoinConfig, JoinService  # noqa: E402
from k3s_daas_webhook.kube import KubeAccess, KubeClient  # noqa: E402

KEYS = _harness.seed_keys()
# status -> the refusal reasons join.py documents for it (docs/seal-token.md, "Join requests")
STATUSES: dict[int, set[str | None]] = {
    200: {None},
    400: {"bad_request"},
    401: {
        "oversized",
        "wrong_prefix",
        "malformed",
        "forbidden_algorithm",
        "unknown_algorithm",
        "bad_signature",
        "wrong_audience",
        "invalid_claims",
        "address_mismatch",
        "expired",
        "not_yet_valid",
        "lifetime_too_long",
    },
    403: {"foreign_node", "node_not_active"},
    404: {"unknown_node"},
    409: {"replayed", "already_joined"},
    503: {"token_not_ready", "unavailable", "busy"},
}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def fake_kube_api() -> str:
    """The two reads /join makes, over real HTTP: the StakedNode list and one Secret."""
    nodes = {
        "items": [
            _harness.stakednode(KEYS["Ed25519"].address),
            _harness.stakednode(KEYS["Secp256k1"].address, "Slashed"),
        ]
    }
    labels = {"k3s-daas.io/staked-node": nodes["items"][0]["metadata"]["name"]}
    data = {
        "token-id": b64("abcdef"),
        "token-secret": b64("0123456789abcdef"),
        "expiration": b64("2030-01-01T00:00:00Z"),
    }
    secret = {"type": "bootstrap.kubernetes.io/token", "metadata": {"name": "bootstrap-token-abcdef", "labels": labels}}
    secret["data"] = data

    async def list_nodes(_request: web.Request) -> web.Response:
        return web.json_response(nodes)

    async def get_secret(request: web.Request) -> web.Response:
        if request.match_info["name"] != "bootstrap-token-abcdef":
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        return web.json_response(secret)

    app = web.Application()
    app.router.add_get("/apis/k3s-daas.io/v1alpha1/stakednodes", list_nodes)
    app.router.add_get("/api/v1/namespaces/kube-system/secrets/{name}", get_secret)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return str(server.make_url("")).rstrip("/")


async def make_app() -> web.Application:
    url = await fake_kube_api()
    client = KubeClient.create(KubeAccess(server=url, ca_file=None, cert_file=None, key_file=None, token="fuzz"))  # noqa: S106
    config = JoinConfig(_harness.CLUSTER_ID, 30.0, 300.0, b"fuzz cluster CA bundle", "https://127.0.0.1:6443")
    service = JoinService(client, config, ReplayGuard(10_000), lambda: float(_harness.NOW))
    return create_app(_harness.webhook_state(join=service))


DRIVER = _harness.AppDriver(make_app)


def check(answer: _harness.Answer) -> None:
    document = _harness.check_webhook_answer(answer, set(STATUSES))
    if answer.status == 200:
        _harness.expect(document.get("kind") == "JoinResponse", f"200 without a JoinResponse: {document!r:.200}")
        _harness.expect(answer.headers.get("Cache-Control") == "no-store", "a join token may be cached")
        return
    _harness.expect(document.get("kind") == "JoinRefusal", f"refusal without JoinRefusal: {document!r:.200}")
    _harness.expect(document.get("reason") in STATUSES[answer.status], f"{answer.status} for {document!r:.200}")
    if answer.status == 503:
        _harness.expect("Retry-After" in answer.headers, "503 without Retry-After")


def test_one_input(data: bytes) -> None:
    check(DRIVER.request("POST", "/join", data, {"Content-Type": "application/json"}))
    token = data.decode("latin-1")
    envelope: dict[str, Any] = {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "JoinRequest", "request": token}
    check(DRIVER.request("POST", "/join", json.dumps(envelope).encode()))


if __name__ == "__main__":
    _harness.fuzz(test_one_input)
