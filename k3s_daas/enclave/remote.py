"""Asking a running webhook for its attestation, and checking the answer.

TLS only protects the transport here: the document is signed by the NSM and carries the nonce, so
its trust never depends on the connection. ``--cacert`` exists for webhooks serving HTTPS with
a private CA.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from k3s_daas.enclave.attestation import Policy, VerifiedAttestation, verify_attestation
from k3s_daas.enclave.errors import MalformedAttestation
from k3s_daas.enclave.response import MAX_RESPONSE, AttestationResponse
from k3s_daas.errors import UserError

__all__ = ["FetchError", "attestation_url", "fetch_attestation", "verify_response"]


class FetchError(UserError):
    """The webhook could not be asked for its attestation."""


def attestation_url(url: str, nonce: bytes | None) -> str:
    """``url`` itself when it ends in ``/attestation``, else ``url`` + ``/attestation``; plus the nonce."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchError(f"{url!r} is not an http(s) URL")
    path = parts.path.rstrip("/")
    if not path.endswith("/attestation"):
        path += "/attestation"
    query = urllib.parse.urlencode({"nonce": nonce.hex()}) if nonce is not None else ""
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def fetch_attestation(
    url: str, *, nonce: bytes | None, timeout_s: float = 10.0, cafile: Path | None = None
) -> AttestationResponse:
    target = attestation_url(url, nonce)
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    request = urllib.request.Request(target, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as answer:  # noqa: S310
            body: bytes = answer.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as error:
        raise FetchError(f"{target} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"cannot reach {target}: {reason}") from None
    return AttestationResponse.from_json_bytes(body)


def verify_response(response: AttestationResponse, policy: Policy, *, now_ms: int | None = None) -> VerifiedAttestation:
    """The document verified under ``policy``, and the server's statements checked against it."""
    verified = verify_attestation(response.document, policy, now_ms=now_ms)
    if response.dev_mode != verified.dev_mode:
        said = "development mode" if response.dev_mode else "a Nitro enclave"
        raise MalformedAttestation(f"the server says it is {said}, but its document says otherwise")
    if response.public_key is not None and response.public_key != verified.public_key:
        raise MalformedAttestation("the server's public_key differs from the one its document binds")
    return verified
