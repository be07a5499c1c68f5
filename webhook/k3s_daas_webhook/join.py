"""/join: a node owner proves their Sui key and receives their node's k3s bootstrap token.

The request is a Seal token with the join profile (audience ``<cluster id>:join``, claims ``node``
and ``jti``, short lifetime), accepted once. The node must have a StakedNode owned by the signer
and Active; its bootstrap token Secret is minted by the operator (docs/cluster-objects.md), this
server only reads it and answers ``K10<sha256 of the cluster CA bundle>::<id>.<secret>``.

Pure checks (``choose_node``, ``read_bootstrap_secret``, ``k3s_join_token``) are separate from the
I/O (``JoinService``), which reads StakedNodes and the Secret through the API server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from k3s_daas.sealtoken import JOIN_REQUEST, TokenRejected, VerifiedToken, join_audience, verify_token
from k3s_daas_webhook.caches import ReplayGuard
from k3s_daas_webhook.kube import ApiError, KubeClient

log = logging.getLogger(__name__)

API_VERSION: Final = "k3s-daas.io/v1alpha1"
STAKEDNODES_PATH: Final = "/apis/k3s-daas.io/v1alpha1/stakednodes"
SECRETS_PATH: Final = "/api/v1/namespaces/kube-system/secrets/"
STAKED_NODE_LABEL: Final = "k3s-daas.io/staked-node"
BOOTSTRAP_TOKEN_TYPE: Final = "bootstrap.kubernetes.io/token"  # noqa: S105 - a Secret type name

_TOKEN_ID: Final = re.compile(r"[a-z0-9]{6}")
_TOKEN_SECRET: Final = re.compile(r"[a-z0-9]{16}")
_SECRET_NAME: Final = re.compile(r"bootstrap-token-[a-z0-9]{6}")


class JoinRefusal(Exception):
    """A join that is answered with an error: HTTP ``status``, a ``reason`` word and a message."""

    def __init__(self, status: int, reason: str, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": "JoinRefusal", "reason": self.reason, "message": self.message}


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    node_name: str
    owner: str
    phase: str | None
    secret_name: str | None
    joined: bool


def node_from_resource(resource: Mapping[str, Any]) -> NodeRecord | None:
    metadata, spec, status = (resource.get(key) or {} for key in ("metadata", "spec", "status"))
    if not all(isinstance(part, Mapping) for part in (metadata, spec, status)):
        return None
    name, node_name, owner = metadata.get("name"), spec.get("nodeName"), spec.get("owner")
    if not (isinstance(name, str) and isinstance(node_name, str) and isinstance(owner, str)):
        return None
    phase, secret = status.get("phase"), status.get("bootstrapTokenSecret")
    return NodeRecord(
        name=name,
        node_name=node_name,
        owner=owner,
        phase=phase if isinstance(phase, str) else None,
        secret_name=secret if isinstance(secret, str) and secret else None,
        joined=status.get("joined") is True,
    )


def choose_node(nodes: Iterable[NodeRecord], node_name: str, address: str) -> NodeRecord:
    """The signer's Active StakedNode for ``node_name``; refusals say which rule failed."""
    named = [node for node in nodes if node.node_name == node_name]
    if not named:
        raise JoinRefusal(404, "unknown_node", f"no StakedNode for node {node_name!r}: stake for it first")
    own = [node for node in named if node.owner == address]
    if not own:
        raise JoinRefusal(403, "foreign_node", f"node {node_name!r} is staked by another address, not {address}")
    active = [node for node in own if node.phase == "Active"]
    if not active:
        phases = ", ".join(sorted({node.phase or "Pending" for node in own}))
        raise JoinRefusal(403, "node_not_active", f"node {node_name!r} is {phases}, not Active: it may not join")
    return min(active, key=lambda node: node.name)


def _field(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else empty: a malformed Secret reads as an incomplete one."""
    return value if isinstance(value, Mapping) else {}


def read_bootstrap_secret(secret: Mapping[str, Any], staked_node: str, now: float) -> tuple[str, str, str | None]:
    """(token id, token secret, expiration) of a bootstrap token Secret minted for ``staked_node``."""
    metadata = _mapping(secret.get("metadata"))
    labels = _mapping(metadata.get("labels"))
    if secret.get("type") != BOOTSTRAP_TOKEN_TYPE or labels.get(STAKED_NODE_LABEL) != staked_node:
        # A Secret of that name that is not ours for this node: never hand it out.
        raise JoinRefusal(503, "token_not_ready", "the node's bootstrap token is not ready yet", retry_after_s=5)
    data = _mapping(secret.get("data"))
    token_id, token_secret, expiration = (
        _field(data, "token-id"),
        _field(data, "token-secret"),
        _field(data, "expiration"),
    )
    if token_id is None or token_secret is None or not _TOKEN_ID.fullmatch(token_id):
        raise JoinRefusal(503, "token_not_ready", "the node's bootstrap token Secret is incomplete", retry_after_s=5)
    if not _TOKEN_SECRET.fullmatch(token_secret):
        raise JoinRefusal(503, "token_not_ready", "the node's bootstrap token Secret is incomplete", retry_after_s=5)
    if expiration is not None:
        try:
            expires = datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
        except ValueError:
            expires = 0.0
        if expires <= now:
            raise JoinRefusal(
                503, "token_not_ready", "the node's bootstrap token expired; a new one is being minted", retry_after_s=5
            )
    return token_id, token_secret, expiration


def k3s_join_token(ca_bundle: bytes, token_id: str, token_secret: str) -> str:
    """k3s' secure token format: the agent checks the server's CA bundle against the hash."""
    return f"K10{hashlib.sha256(ca_bundle).hexdigest()}::{token_id}.{token_secret}"


@dataclass(frozen=True)
class JoinConfig:
    cluster_id: str
    leeway_s: float
    max_lifetime_s: float
    ca_bundle: bytes
    agent_server_url: str = ""


class JoinService:
    def __init__(
        self,
        client: KubeClient,
        config: JoinConfig,
        replay: ReplayGuard,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._config = config
        self._replay = replay
        self._clock = clock

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "JoinInfo",
            "clusterId": self._config.cluster_id,
            "audience": join_audience(self._config.cluster_id),
            "maxLifetimeSeconds": int(self._config.max_lifetime_s),
        }
        if self._config.agent_server_url:
            info["server"] = self._config.agent_server_url
        return info

    async def handle(self, body: bytes) -> dict[str, Any]:
        request_token = _parse_request(body)
        verified = self._verify(request_token)
        node = verified.claims.node
        token_id = verified.claims.token_id
        assert node is not None and token_id is not None  # required by the join profile
        now = self._clock()
        first = self._replay.first_use(
            verified.address, token_id, verified.claims.expires_at + self._config.leeway_s, now
        )
        if first is False:
            raise JoinRefusal(409, "replayed", "this join request was already used: sign a new one")
        if first is None:
            raise JoinRefusal(503, "busy", "too many join requests in flight; retry shortly", retry_after_s=5)
        nodes = await self._staked_nodes()
        chosen = choose_node(nodes, node, verified.address)
        if chosen.secret_name is None or not _SECRET_NAME.fullmatch(chosen.secret_name):
            if chosen.joined:
                raise JoinRefusal(
                    409, "already_joined", f"node {node!r} has already joined; no bootstrap token is kept"
                )
            raise JoinRefusal(503, "token_not_ready", f"no bootstrap token minted for {node!r} yet", retry_after_s=5)
        secret = await self._secret(chosen.secret_name)
        token_id_, token_secret, expiration = read_bootstrap_secret(secret, chosen.name, now)
        log.info("join: node %s for %s (bootstrap token id %s)", node, verified.address, token_id_)
        answer: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "JoinResponse",
            "nodeName": node,
            "token": k3s_join_token(self._config.ca_bundle, token_id_, token_secret),
        }
        if expiration:
            answer["expiresAt"] = expiration
        if self._config.agent_server_url:
            answer["server"] = self._config.agent_server_url
        return answer

    def _verify(self, token: str) -> VerifiedToken:
        # Inline on the loop: joins are rare (one per node), and a check takes well under a millisecond.
        try:
            return verify_token(
                token,
                audience=join_audience(self._config.cluster_id),
                now=self._clock(),
                profile=JOIN_REQUEST,
                leeway_s=self._config.leeway_s,
                max_lifetime_s=self._config.max_lifetime_s,
            )
        except TokenRejected as error:
            raise JoinRefusal(401, error.reason.value, f"join request refused: {error.detail}") from None

    async def _staked_nodes(self) -> list[NodeRecord]:
        try:
            listing = await self._client.get(STAKEDNODES_PATH)
        except ApiError as error:
            raise JoinRefusal(503, "unavailable", f"cannot read StakedNodes: {error}", retry_after_s=2) from None
        items = listing.get("items") or []
        return [record for item in items if isinstance(item, dict) and (record := node_from_resource(item))]

    async def _secret(self, name: str) -> dict[str, Any]:
        try:
            return await self._client.get(SECRETS_PATH + name)
        except ApiError as error:
            if error.status == 404:
                raise JoinRefusal(
                    503, "token_not_ready", "the node's bootstrap token is being replaced", retry_after_s=5
                ) from None
            raise JoinRefusal(
                503, "unavailable", f"cannot read the bootstrap token: {error.message}", retry_after_s=2
            ) from None


def _parse_request(body: bytes) -> str:
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise JoinRefusal(400, "bad_request", "body is not JSON; expected a JoinRequest") from None
    if not isinstance(document, dict) or document.get("kind") != "JoinRequest":
        raise JoinRefusal(
            400, "bad_request", 'expected {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "JoinRequest", ...}'
        )
    if document.get("apiVersion") != API_VERSION:
        raise JoinRefusal(400, "bad_request", f"apiVersion must be {API_VERSION!r}")
    token = document.get("request")
    if not isinstance(token, str) or not token:
        raise JoinRefusal(400, "bad_request", "field 'request' must hold the signed join request (a Seal token)")
    return token
