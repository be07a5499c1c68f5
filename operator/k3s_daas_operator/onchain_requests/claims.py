"""The claim of one request id, and what an executor does next with it (pure).

A claim is a ConfigMap created before the request is executed (create is atomic: of two
executors, one gets 409 AlreadyExists), then updated with the signed outcome before it is relayed
to the chain. So a request is executed at most once, and an outcome once recorded is relayed,
not recomputed, however often executors restart (docs/onchain-requests.md, "Exactly once").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from k3s_daas.chain.enclave import RegisteredEnclave
from k3s_daas.enclave.errors import EnclaveSignatureError
from k3s_daas.onchain_requests.signing import body_digest, verify_response_signature
from k3s_daas_operator.names import LABEL_MANAGED_BY
from k3s_daas_operator.onchain_requests.requests import ChainRequest
from k3s_daas_operator.onchain_requests.status import status_body

MAX_BODY_BYTES: Final = 512 * 1024
"""The largest response body kept (in the claim ConfigMap, whose limit is 1 MiB in all)."""
CLAIM_PREFIX: Final = "k3s-daas-request-"
LABEL_REQUEST: Final = "k3s-daas.io/onchain-request"
MANAGER: Final = "k3s-daas-onchain-requests"


@dataclass(frozen=True, slots=True)
class SignedOutcome:
    """What the API server answered (or the executor's own Status), signed by the enclave key."""

    status_code: int
    body: str
    body_digest: bytes
    enclave_id: str
    signed_at_ms: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class Claim:
    request_id: int
    sender: str
    executor: str
    """The executor instance that claimed it (a fresh id per process start)."""
    claimed_at_ms: int
    outcome: SignedOutcome | None
    resource_version: str = ""
    method: str = ""
    """As read back from the ConfigMap (written from the event): checked against the event by ``tampering``."""
    path: str = ""


class Step(enum.Enum):
    CLAIM = "claim"
    """Nobody claimed it: claim it, then execute."""
    RELAY = "relay"
    """The outcome is recorded: relay it to the chain (again, if an earlier relay was lost)."""
    WAIT = "wait"
    """Another executor is executing it now: look again later."""
    TAKE_OVER = "take_over"
    """Its execution ended without an outcome (the executor stopped, or the API server could not be
    reached), and the request only reads: execute it again."""
    INTERRUPTED = "interrupted"
    """Its execution ended without an outcome, and the request may have written: answer 504."""


def next_step(claim: Claim | None, request: ChainRequest, executor: str, now_ms: int, stale_after_ms: int) -> Step:
    """``executor`` is this instance; it settles requests one at a time, so a claim of its own without
    an outcome is an attempt of its own that failed before recording one (the API server unreachable)."""
    if claim is None:
        return Step.CLAIM
    if claim.outcome is not None:
        return Step.RELAY
    if claim.executor != executor and now_ms - claim.claimed_at_ms < stale_after_ms:
        return Step.WAIT
    return Step.TAKE_OVER if request.safe else Step.INTERRUPTED


def tampering(
    claim: Claim, request: ChainRequest, enclaves: Iterable[RegisteredEnclave], now_ms: int, stale_after_ms: int
) -> str:
    """Why ``claim`` cannot have been written by an executor for ``request`` ("" when it can).

    Anybody who may create ConfigMaps in the namespace can write a claim, so nothing in it is
    trusted for what it says: it must name the event's request, and a recorded outcome must carry a
    valid signature of a registered enclave over its own body. Otherwise the enclave key would relay
    (or, under ``EEnclaveNotCurrent``, sign again) whatever status and body somebody wrote there.
    """
    expected = (request.request_id, request.sender, request.method, request.path)
    if (claim.request_id, claim.sender, claim.method, claim.path) != expected:
        return "it names another request (request id, sender, method or path differ from the event)"
    if claim.claimed_at_ms > now_ms + stale_after_ms:
        return "its claim time is in the future"
    outcome = claim.outcome
    if outcome is None:
        return ""
    if body_digest(outcome.body.encode("utf-8")) != outcome.body_digest:
        return "its body is not the one its digest names"
    signer = next((e for e in enclaves if e.object_id == outcome.enclave_id), None)
    if signer is None:
        return f"its outcome names enclave {outcome.enclave_id[:80]!r}, which is not registered"
    try:
        verify_response_signature(
            signer.public_key,
            request.request_id,
            outcome.status_code,
            outcome.body_digest,
            outcome.signed_at_ms,
            outcome.signature,
        )
    except EnclaveSignatureError:
        return f"its outcome is not signed by enclave {signer.object_id}"
    return ""


def tampered_body(request: ChainRequest, problem: str) -> bytes:
    return status_body(
        500,
        f"k3s-daas on-chain request {request.request_id}: its claim ConfigMap was not written by an executor "
        f"({problem}); the request is not executed, whether an earlier executor executed it is unknown "
        "(check the object), and the claim's contents are not relayed",
    )


def interrupted_body(request: ChainRequest) -> bytes:
    return status_body(
        504,
        f"k3s-daas on-chain request {request.request_id}: the executor stopped while executing this "
        f"{request.method}; whether it took effect is unknown, and it is not executed again (check the object)",
    )


def kept_body(status_code: int, body: bytes) -> tuple[int, bytes]:
    """The status and body to record: the API server's, unless they cannot be kept (too large, not text)."""
    if len(body) > MAX_BODY_BYTES:
        message = (
            f"k3s-daas on-chain request: the API server answered {status_code} with more than "
            f"the {MAX_BODY_BYTES} bytes on-chain request mode keeps; narrow the request (limit, labelSelector) "
            "or use kubectl"
        )
        return 413, status_body(413, message)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return 502, status_body(
            502, f"k3s-daas on-chain request: the API server answered {status_code} with a body that is not UTF-8"
        )
    return status_code, body


def claim_name(gateway_id: str, request_id: int) -> str:
    """One name per (chain, request id): request ids restart at 1 on a new Gateway."""
    return f"{CLAIM_PREFIX}{gateway_id.removeprefix('0x')[:12]}-{request_id}"


def to_configmap(name: str, namespace: str, request: ChainRequest, claim: Claim) -> dict[str, object]:
    data = {
        "requestId": str(request.request_id),
        "sender": request.sender,
        "method": request.method,
        "path": request.path,
        "executor": claim.executor,
        "claimedAtMs": str(claim.claimed_at_ms),
    }
    if claim.outcome is not None:
        outcome = claim.outcome
        data |= {
            "statusCode": str(outcome.status_code),
            "body": outcome.body,
            "bodyDigest": outcome.body_digest.hex(),
            "enclaveId": outcome.enclave_id,
            "signedAtMs": str(outcome.signed_at_ms),
            "signature": outcome.signature.hex(),
        }
    metadata: dict[str, object] = {
        "name": name,
        "namespace": namespace,
        "labels": {LABEL_MANAGED_BY: MANAGER, LABEL_REQUEST: str(request.request_id)},
    }
    if claim.resource_version:
        metadata["resourceVersion"] = claim.resource_version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


class MalformedClaim(ValueError):
    """A claim ConfigMap that this code did not write (or that was edited)."""


def from_configmap(document: Mapping[str, object]) -> Claim:
    metadata = document.get("metadata")
    data = document.get("data")
    if not isinstance(metadata, Mapping) or not isinstance(data, Mapping):
        raise MalformedClaim("no metadata or data")
    try:
        outcome = None
        if "statusCode" in data:
            outcome = SignedOutcome(
                status_code=int(str(data["statusCode"])),
                body=str(data.get("body", "")),
                body_digest=bytes.fromhex(str(data["bodyDigest"])),
                enclave_id=str(data["enclaveId"]),
                signed_at_ms=int(str(data["signedAtMs"])),
                signature=bytes.fromhex(str(data["signature"])),
            )
        return Claim(
            request_id=int(str(data["requestId"])),
            sender=str(data["sender"]),
            executor=str(data["executor"]),
            claimed_at_ms=int(str(data["claimedAtMs"])),
            outcome=outcome,
            resource_version=str(metadata.get("resourceVersion", "")),
            method=str(data.get("method", "")),
            path=str(data.get("path", "")),
        )
    except (KeyError, ValueError) as error:
        raise MalformedClaim(f"field {error}") from None
