"""The impersonated call: one request to the API server as ``sui:<sender>``, status and body as they are.

Impersonation headers make the API server authorize (RBAC) and admit (admission webhooks) the
request exactly as it would a kubectl request of that user with those groups and extra; the
executor's own identity needs only the ``impersonate`` verb (manifests/components/onchain-requests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDict
from yarl import URL

# The operator's own TLS setup from the same kubeconfig: one place decides how to trust the API server.
from k3s_daas_operator.kube import Connection, _ssl_context
from k3s_daas_operator.onchain_requests.claims import MAX_BODY_BYTES
from k3s_daas_operator.onchain_requests.requests import Call

_USER_AGENT: Final = "k3s-daas-onchain-requests"


@dataclass(frozen=True, slots=True)
class Impersonation:
    """The user the authenticator gives the sender (``k3s_daas_webhook.decision.identity_for``)."""

    username: str
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def headers(self) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        headers.add("Impersonate-User", self.username)
        for group in self.groups:
            headers.add("Impersonate-Group", group)
        for key, values in self.extra:
            # Extra keys are percent-encoded in the header name (kubectl --as-user-extra does the same).
            name = "Impersonate-Extra-" + quote(key, safe="")
            for value in values:
                headers.add(name, value)
        return headers


class TransportError(Exception):
    """The API server could not be reached, or did not answer within the timeout."""


class ImpersonatingTransport:
    def __init__(self, connection: Connection, timeout_s: float) -> None:
        self._connection = connection
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=_ssl_context(self._connection))
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, call: Call, who: Impersonation) -> tuple[int, bytes]:
        headers = who.headers()
        headers["Accept"] = "application/json"
        headers["User-Agent"] = _USER_AGENT
        token = self._connection.current_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if call.content_type is not None:
            headers["Content-Type"] = call.content_type
        # encoded=True: the URL is sent as checked (``requests.plan``), never normalised after the checks;
        # no redirects: the request goes to the API server, as the sender, and nowhere else.
        url = URL(self._connection.server.rstrip("/") + call.path, encoded=True)
        try:
            async with self._http().request(
                call.method, url, data=call.body, headers=headers, allow_redirects=False
            ) as response:
                # One byte more than is kept is enough to answer 413 (``claims.kept_body``).
                return response.status, await _read_at_most(response.content, MAX_BODY_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransportError(f"{call.method} {call.path}: {error!r}") from None


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
