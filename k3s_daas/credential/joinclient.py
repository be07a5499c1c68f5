"""`k3s-daas join`: prove a Sui key to the webhook's /join and receive the node's bootstrap token.

Protocol (docs/seal-token.md, "Join requests"):

1. ``GET /join`` -> ``JoinInfo``: the cluster id to sign for, the longest request lifetime accepted
   and, when the webhook knows it, the k3s server URL agents should use.
2. ``POST /join`` with ``{"kind": "JoinRequest", "request": <Seal token>}``: a join-request token
   (audience ``<cluster id>:join``, claims ``node`` and a random ``jti``) signed by the node's owner.
3. ``JoinResponse``: ``token`` in k3s' ``K10<ca-hash>::<id>.<secret>`` form, or a refusal with a
   reason and a message.

Blocking urllib on purpose: one request pair per run, and the command starts faster without aiohttp.
"""

from __future__ import annotations

import json
import shlex
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from k3s_daas.errors import UserError
from k3s_daas.sealtoken import is_cluster_id, join_claims, sign
from k3s_daas.sui.crypto import Keypair

API_VERSION: Final = "k3s-daas.io/v1alpha1"
DEFAULT_AGENT_PORT: Final = 6443
_TIMEOUT_S: Final = 15


class JoinError(UserError):
    """The webhook refused the join, or could not be reached; the message says why."""


@dataclass(frozen=True)
class JoinResult:
    node_name: str
    token: str
    server: str
    expires_at: str | None

    def agent_command(self) -> str:
        return shlex.join(
            ["k3s", "agent", "--server", self.server, "--token", self.token, "--node-name", self.node_name]
        )


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_file.expanduser()) if ca_file else None)
    except (OSError, ssl.SSLError) as error:
        raise JoinError(f"cannot use the CA file {ca_file}: {error}") from None


def _call(url: str, context: ssl.SSLContext, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be https below
        url, data=data, method="GET" if body is None else "POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S, context=context) as response:  # noqa: S310
            payload: Any = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise JoinError(_refusal(error)) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise JoinError(f"cannot reach the join endpoint {url}: {reason}") from None
    except json.JSONDecodeError:
        raise JoinError(f"{url} did not answer JSON: is this the K3s-DaaS webhook?") from None
    if not isinstance(payload, dict):
        raise JoinError(f"{url} answered something other than a JSON object")
    return payload


def _refusal(error: urllib.error.HTTPError) -> str:
    try:
        body: Any = json.loads(error.read())
        message, reason = str(body["message"]), str(body.get("reason", ""))
    except (ValueError, KeyError, TypeError, OSError):
        return f"the join endpoint answered HTTP {error.code} {error.reason}"
    return f"join refused ({reason or error.code}): {message}"


def _join_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise JoinError(f"--url must be the webhook's https:// URL, got {url!r}")
    path = parsed.path.rstrip("/")
    if not path.endswith("/join"):
        path += "/join"
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


def _default_server(url: str) -> str:
    # The webhook runs on a k3s server node; its supervisor/API port there is 6443.
    host = urllib.parse.urlsplit(url).hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{DEFAULT_AGENT_PORT}"


def join(
    url: str,
    keypair: Keypair,
    node_name: str,
    *,
    ca_file: Path | None = None,
    cluster_id: str | None = None,
    server: str | None = None,
    lifetime_s: int = 120,
) -> JoinResult:
    endpoint = _join_url(url)
    context = _ssl_context(ca_file)
    info = _call(endpoint, context)
    advertised = info.get("clusterId")
    if not isinstance(advertised, str) or not is_cluster_id(advertised):
        raise JoinError(f"{endpoint} did not name a valid cluster id: is this the K3s-DaaS webhook?")
    if cluster_id is not None and advertised != cluster_id:
        raise JoinError(f"{endpoint} serves cluster {advertised!r}, not {cluster_id!r}")
    max_lifetime = info.get("maxLifetimeSeconds")
    if isinstance(max_lifetime, int) and max_lifetime > 0:
        lifetime_s = min(lifetime_s, max_lifetime)
    claims = join_claims(keypair.address, advertised, node_name, int(time.time()), lifetime_s)
    answer = _call(
        endpoint, context, {"apiVersion": API_VERSION, "kind": "JoinRequest", "request": sign(keypair, claims)}
    )
    token = answer.get("token")
    if not isinstance(token, str) or not token.startswith("K10"):
        raise JoinError(f"{endpoint} answered without a k3s join token")
    advertised_server = answer.get("server") or info.get("server")
    chosen = server or (advertised_server if isinstance(advertised_server, str) else None) or _default_server(url)
    expires = answer.get("expiresAt")
    return JoinResult(node_name, token, chosen, expires if isinstance(expires, str) else None)
