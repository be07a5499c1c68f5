"""A small async Kubernetes API client: GET, LIST and WATCH of JSON objects, and the POST/PUT that
keep the node-guard policy's list of admitted nodes, nothing more.

Why not the official ``kubernetes`` client with a sync watch in a thread: a blocked ``watch.stream``
cannot be cancelled promptly at shutdown, each thread holds its own connection pool, and every event
would hop threads before reaching the loop. The webhook needs three verbs on two resources; over the
aiohttp session it already runs, they are a few lines and cancel cleanly. The official client is
still used to *read the kubeconfig* (client certificates, tokens, exec plugins, in-cluster service
account), so every credential form kubectl accepts works here too.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from k3s_daas.errors import UserError

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
_TOKEN_FILE_REREAD_S = 3600.0


class KubeConfigError(UserError):
    """No usable Kubernetes credentials."""


class ApiError(Exception):
    """The API server answered an error status (``status``), or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class KubeAccess:
    server: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    token: str | None
    verify: bool = True
    token_file: str | None = None
    """In a pod: the projected service-account token, which the kubelet rotates; read again hourly."""

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def ca_bundle(self) -> bytes | None:
        return Path(self.ca_file).read_bytes() if self.ca_file else None


def load_access(kubeconfig: str) -> KubeAccess:
    """Credentials from ``kubeconfig`` (a path), else the pod's service account, else ~/.kube/config.

    Blocking (it may run an exec plugin): call it before the event loop starts or in a thread.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    token_file = None
    try:
        if kubeconfig:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration, persist_config=False
            )
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                token_file = SERVICE_ACCOUNT_TOKEN
            except ConfigException:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration, persist_config=False
                )
    except (ConfigException, OSError, ValueError, TypeError) as error:
        where = kubeconfig or "the in-cluster service account or ~/.kube/config"
        raise KubeConfigError(f"cannot load Kubernetes credentials from {where}: {error}") from None
    # kubernetes>=30 keeps the bearer token under "BearerToken"; older releases under "authorization".
    keys = configuration.api_key or {}
    authorization = str(keys.get("BearerToken") or keys.get("authorization") or "")
    return KubeAccess(
        server=str(configuration.host).rstrip("/"),
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        token=authorization.removeprefix("Bearer ").strip() or None,
        verify=bool(configuration.verify_ssl),
        token_file=token_file,
    )


class KubeClient:
    def __init__(self, access: KubeAccess, session: aiohttp.ClientSession) -> None:
        self._access = access
        self._session = session
        self._headers = {"Accept": "application/json"}
        self._token_read_at = time.monotonic()
        if access.token:
            self._headers["Authorization"] = f"Bearer {access.token}"
        self._ssl: ssl.SSLContext | bool = access.ssl_context() if access.server.startswith("https") else False

    @classmethod
    def create(cls, access: KubeAccess) -> KubeClient:
        return cls(access, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10)))

    async def close(self) -> None:
        await self._session.close()

    def _current_headers(self) -> dict[str, str]:
        token_file = self._access.token_file
        if token_file and time.monotonic() - self._token_read_at > _TOKEN_FILE_REREAD_S:
            try:
                self._headers["Authorization"] = "Bearer " + Path(token_file).read_text().strip()
                self._token_read_at = time.monotonic()
            except OSError:
                pass  # keep the previous token; the API server will say if it stopped working
        return self._headers

    async def get(self, path: str, params: Mapping[str, str] | None = None, timeout_s: float = 10) -> dict[str, Any]:
        document = await self._request("GET", path, params=params, timeout_s=timeout_s, ok=(200,))
        if not isinstance(document, dict):
            raise ApiError(200, "the API server answered something other than an object")
        return document

    async def send(self, method: str, path: str, document: Mapping[str, Any], timeout_s: float = 10) -> dict[str, Any]:
        """POST or PUT ``document``; the API server's answer (the object written)."""
        answer = await self._request(method, path, document=document, timeout_s=timeout_s, ok=(200, 201))
        return answer if isinstance(answer, dict) else {}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        timeout_s: float,
        ok: tuple[int, ...],
        params: Mapping[str, str] | None = None,
        document: Mapping[str, Any] | None = None,
    ) -> Any:
        """One request; its JSON answer, or ApiError (status 0 when the server cannot be reached)."""
        headers = self._current_headers()
        data = None
        if document is not None:
            headers = {**headers, "Content-Type": "application/json"}
            data = json.dumps(document).encode()
        try:
            async with self._session.request(
                method,
                self._access.server + path,
                params=params,
                data=data,
                headers=headers,
                ssl=self._ssl,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                body = await response.read()
                if response.status not in ok:
                    raise ApiError(response.status, _status_message(body, response.reason))
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiError(
                0, f"cannot reach the API server {self._access.server}: {error or type(error).__name__}"
            ) from None
        try:
            return json.loads(body)
        except ValueError:
            raise ApiError(response.status, "the API server answered something other than JSON") from None

    async def watch(self, path: str, params: Mapping[str, str], timeout_s: float) -> AsyncIterator[dict[str, Any]]:
        """Watch events (``{"type": ..., "object": ...}``) until the server ends the stream."""
        query = {**params, "watch": "1", "timeoutSeconds": str(int(timeout_s))}
        try:
            async with self._session.get(
                self._access.server + path,
                params=query,
                headers=self._current_headers(),
                ssl=self._ssl,
                # No total limit: the server closes after timeoutSeconds; silence longer than that is a fault.
                timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_s + 30),
            ) as response:
                if response.status != 200:
                    raise ApiError(response.status, _status_message(await response.read(), response.reason))
                async for line in response.content:
                    if not line.strip():
                        continue
                    try:
                        event: Any = json.loads(line)
                    except ValueError:
                        raise ApiError(0, "the API server sent a watch event that is not JSON") from None
                    if isinstance(event, dict):
                        yield event
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiError(0, f"watch of {path} interrupted: {error or type(error).__name__}") from None


def _status_message(body: bytes, fallback: str | None) -> str:
    try:
        status: Any = json.loads(body)
        return str(status["message"])
    except (ValueError, KeyError, TypeError):
        return fallback or "no message"
