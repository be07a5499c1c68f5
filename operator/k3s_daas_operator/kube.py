"""A small async Kubernetes API client over aiohttp: JSON in, JSON out, typed failures.

The operator talks to the API server with plain JSON rather than the generated ``kubernetes``
models: at ten thousand objects the models' (de)serialization costs more CPU than the requests.
Credentials come from a kubeconfig (or the pod's service account) via the ``kubernetes``
package's loaders, so every kubeconfig form works (client certificates, tokens, exec plugins).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from k3s_daas.errors import UserError

log = logging.getLogger(__name__)

PAGE_SIZE: Final = 500
MERGE_PATCH: Final = "application/merge-patch+json"
_TIMEOUT_S: Final = 30.0
_TOKEN_REFRESH_S: Final = 60.0
WATCH_SERVER_TIMEOUT_S: Final = 300
"""How long the API server keeps one watch open (``timeoutSeconds``); the watch is then renewed."""
_WATCH_TIMEOUT: Final = aiohttp.ClientTimeout(
    total=None, sock_connect=_TIMEOUT_S, sock_read=WATCH_SERVER_TIMEOUT_S + _TIMEOUT_S
)


class KubeError(UserError):
    """The API server refused a request (or could not be reached: status 0)."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    """409: AlreadyExists on create, or a stale resourceVersion on update."""


class Gone(KubeError):
    """410: a watch's resourceVersion is too old (compacted): list again."""


class TooManyRequests(KubeError):
    """429: for an eviction, a PodDisruptionBudget does not allow it now."""


@dataclass(frozen=True)
class Connection:
    server: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    token: str | None
    verify: bool = True
    configuration: Any = None
    """The ``kubernetes`` client configuration it came from: it knows how to refresh the token
    (a rotated service-account token file, an exec plugin)."""

    def current_token(self) -> str | None:
        if self.configuration is None or self.configuration.refresh_api_key_hook is None:
            return self.token
        self.configuration.refresh_api_key_hook(self.configuration)
        return _bearer(self.configuration) or self.token


def _bearer(configuration: Any) -> str | None:
    # kubeconfig users land in api_key["BearerToken"], in-cluster ones in api_key["authorization"].
    keys = configuration.api_key or {}
    text = keys.get("authorization") or keys.get("BearerToken") or ""
    return str(text).removeprefix("Bearer ").strip() or None


def load_connection(kubeconfig: str) -> Connection:
    """From ``kubeconfig`` (a path, or paths joined by ':'), else the pod's service account, else
    ~/.kube/config; blocking (it may run an exec credential plugin)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except ConfigException:
                config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError) as error:
        where = kubeconfig or "the in-cluster service account or ~/.kube/config"
        raise UserError(f"cannot load Kubernetes credentials from {where}: {error}") from None
    return Connection(
        server=str(configuration.host).rstrip("/"),
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        token=_bearer(configuration),
        verify=bool(configuration.verify_ssl),
        configuration=configuration,
    )


def _ssl_context(connection: Connection) -> ssl.SSLContext | bool:
    if not connection.server.startswith("https"):
        return False
    context = ssl.create_default_context(cafile=connection.ca_file)
    if not connection.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if connection.cert_file and connection.key_file:
        context.load_cert_chain(connection.cert_file, connection.key_file)
    return context


class KubeClient:
    """One per process; at most ``max_parallel`` requests in flight."""

    def __init__(self, connection: Connection, max_parallel: int = 32) -> None:
        self.connection = connection
        self._limit = asyncio.Semaphore(max(1, max_parallel))
        self._session: aiohttp.ClientSession | None = None
        self._token = connection.token
        self._token_read = time.monotonic()
        self.requests = 0

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Accept": "application/json", "User-Agent": "k3s-daas-operator"}
            connector = aiohttp.TCPConnector(ssl=_ssl_context(self.connection), limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        token = self._bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self._limit:
            self.requests += 1
            try:
                async with self._http().request(
                    method, self.connection.server + path, data=data, params=params, headers=headers
                ) as response:
                    text = await response.text()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as error:
                raise KubeError(0, f"{method} {path}: API server unreachable: {error!r}") from None
        if status >= 400:
            raise _error(method, path, status, text)
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            raise KubeError(status, f"{method} {path}: answer is not JSON") from None
        return answer if isinstance(answer, dict) else {}

    def _bearer_token(self) -> str | None:
        # Tokens rotate (projected service-account tokens, exec plugins): re-read once a minute.
        if time.monotonic() - self._token_read > _TOKEN_REFRESH_S:
            self._token, self._token_read = self.connection.current_token(), time.monotonic()
        return self._token

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def list(self, path: str, params: Mapping[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, page by page."""
        query = dict(params or {})
        query["limit"] = str(PAGE_SIZE)
        while True:
            page = await self.request("GET", path, params=query)
            for item in page.get("items") or []:
                yield item
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    async def watch(self, path: str, params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request, decoded, until the server ends it (``timeoutSeconds``)
        or the connection breaks (KubeError). Not counted against ``max_parallel``: a watch is
        open for minutes and would starve the requests."""
        headers = {}
        token = self._bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        query = {**params, "watch": "true"}
        self.requests += 1
        try:
            async with self._http().get(
                self.connection.server + path, params=query, headers=headers, timeout=_WATCH_TIMEOUT
            ) as response:
                if response.status >= 400:
                    raise _error("WATCH", path, response.status, await response.text())
                pending = b""
                # Lines may be longer than aiohttp's readline limit: split the stream ourselves.
                async for chunk in response.content.iter_any():
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield _decoded(line, path)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise KubeError(0, f"WATCH {path}: connection lost: {error!r}") from None

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body=body)

    async def replace(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PUT", path, body=body)

    async def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def delete(self, path: str, *, missing_ok: bool = True) -> bool:
        """True when this call deleted it; False when it was already gone (and ``missing_ok``)."""
        try:
            await self.request("DELETE", path)
        except NotFound:
            if not missing_ok:
                raise
            return False
        return True


def _decoded(line: bytes, path: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        raise KubeError(0, f"WATCH {path}: an event is not JSON") from None
    if not isinstance(event, dict):
        raise KubeError(0, f"WATCH {path}: an event is not an object")
    return event


def _error(method: str, path: str, status: int, text: str) -> KubeError:
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    reason = body.get("reason", "") if isinstance(body, dict) else ""
    description = f"{method} {path}: {status} {message or text[:200]}"
    kind = {404: NotFound, 409: Conflict, 410: Gone, 429: TooManyRequests}.get(status, KubeError)
    return kind(status, description, reason)


# --- paths ------------------------------------------------------------------------------------


def custom_path(plural: str, name: str = "", subresource: str = "") -> str:
    from k3s_daas_operator.names import GROUP, VERSION

    path = f"/apis/{GROUP}/{VERSION}/{plural}"
    return _tail(path, name, subresource)


def core_path(kind: str, name: str = "", namespace: str = "", subresource: str = "") -> str:
    path = "/api/v1" + (f"/namespaces/{namespace}" if namespace else "") + f"/{kind}"
    return _tail(path, name, subresource)


def rbac_path(kind: str, name: str = "") -> str:
    return _tail(f"/apis/rbac.authorization.k8s.io/v1/{kind}", name, "")


def _tail(path: str, name: str, subresource: str) -> str:
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path
