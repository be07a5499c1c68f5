"""A small synchronous client for localnet's write endpoint (and the reads the CLI needs).

It signs each entry-function call with the sender's Sui key (``protocol.sign_call``), posts it,
and returns the transaction report; failures become ``UserError``s with the server's message.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Final

from k3s_daas.errors import UserError
from k3s_daas.localnet.clock import Clock, wall_clock_ms
from k3s_daas.localnet.protocol import sign_call
from k3s_daas.localnet.state import Call
from k3s_daas.sui.crypto import Keypair

DEFAULT_TIMEOUT_S: Final = 30.0

_OWNED_OF_TYPE: Final = """
query Owned($owner: SuiAddress!, $type: String!) {
  objects(first: 1, filter: {owner: $owner, type: $type}) { nodes { address } }
}
"""

_OWNER_OF: Final = """
query Owner($id: SuiAddress!) {
  object(address: $id) { owner { __typename ... on AddressOwner { address { address } } } }
}
"""


class LocalnetError(UserError):
    """Localnet refused the request or could not be reached; the message says why.

    ``status`` and ``details`` are the HTTP status and the server's error object (for an abort:
    ``kind`` "MoveAbort", ``module``, ``function``, ``abortCode``, ``abortName``).
    """

    def __init__(self, message: str, *, status: int = 0, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.details: Mapping[str, Any] = details or {}


def base_url(url: str) -> str:
    """``http://host:port/graphql`` -> ``http://host:port`` (either form is accepted)."""
    return url.rstrip("/").removesuffix("/graphql")


class LocalnetClient:
    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, wall_clock: Clock = wall_clock_ms) -> None:
        self.base_url = base_url(url)
        self._timeout_s = timeout_s
        self._wall_clock = wall_clock
        self._info: Mapping[str, Any] | None = None

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's chain endpoint
            self.base_url + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            details = _error_details(error)
            message = str(details.get("message") or f"localnet answered HTTP {error.code}")
            raise LocalnetError(message, status=error.code, details=details) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise LocalnetError(
                f"cannot reach localnet at {self.base_url} ({reason}): is `k3s-daas localnet serve` running?"
            ) from None
        except ValueError:
            raise LocalnetError(f"{self.base_url}{path} did not answer JSON: is it a localnet?") from None

    def info(self) -> Mapping[str, Any]:
        if self._info is None:
            info = self._request("GET", "/localnet/v1/info")
            if not isinstance(info, dict) or not isinstance(info.get("chainIdentifier"), str):
                raise LocalnetError(f"{self.base_url}/localnet/v1/info is not a localnet info document")
            self._info = info
        return self._info

    def package_id(self) -> str:
        return str(self.info()["packageId"])

    def call(self, key: Keypair, module: str, function: str, arguments: Mapping[str, object]) -> dict[str, Any]:
        signed = sign_call(
            key, str(self.info()["chainIdentifier"]), Call(module, function, arguments), self._wall_clock()
        )
        body = {"message": base64.b64encode(signed.message).decode(), "signature": signed.signature}
        report = self._request("POST", "/localnet/v1/execute", body)
        if not isinstance(report, dict):
            raise LocalnetError("localnet answered something other than a transaction report")
        return report

    def advance_clock(self, by_ms: int) -> dict[str, Any]:
        answer = self._request("POST", "/localnet/v1/clock", {"advanceMs": by_ms})
        return dict(answer)

    def graphql(self, query: str, variables: Mapping[str, Any]) -> Mapping[str, Any]:
        answer = self._request("POST", "/graphql", {"query": query, "variables": dict(variables)})
        if not isinstance(answer, dict) or answer.get("errors"):
            errors = answer.get("errors") if isinstance(answer, dict) else answer
            raise LocalnetError(f"GraphQL query failed: {errors}")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise LocalnetError("GraphQL answer has no data")
        return data

    def admin_cap(self, owner: str) -> str | None:
        """The ``AdminCap`` that ``owner`` holds, if any."""
        cap_type = f"{self.package_id()}::staking::AdminCap"
        nodes = self.graphql(_OWNED_OF_TYPE, {"owner": owner, "type": cap_type})["objects"]["nodes"]
        return str(nodes[0]["address"]) if nodes else None

    def owner_of(self, object_id: str) -> str | None:
        """The account owning ``object_id``; None when it does not exist or is not account-owned."""
        found = self.graphql(_OWNER_OF, {"id": object_id})["object"]
        if not found or found["owner"]["__typename"] != "AddressOwner":
            return None
        return str(found["owner"]["address"]["address"])


def _error_details(error: urllib.error.HTTPError) -> Mapping[str, Any]:
    try:
        body = json.loads(error.read())
    except ValueError:
        return {}
    details = body.get("error") if isinstance(body, dict) else None
    return details if isinstance(details, dict) else {}
