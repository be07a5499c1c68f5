"""The aiohttp application: thin handlers that move bytes between HTTP and the pure core.

Routes: POST /authenticate (TokenReview), POST /validate (AdmissionReview), GET|POST /join,
GET /attestation (the enclave's attestation document), GET /healthz, /readyz, /metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from k3s_daas.enclave.errors import MalformedAttestation
from k3s_daas.enclave.nsm import NsmError
from k3s_daas.enclave.response import parse_nonce
from k3s_daas.sealtoken import TokenRejected
from k3s_daas_webhook import admissionreview, tokenreview
from k3s_daas_webhook.admission import decide as decide_admission
from k3s_daas_webhook.admission_state import AdmissionPolicy, AdmissionSources
from k3s_daas_webhook.caches import AnswerMemo
from k3s_daas_webhook.decision import Authenticated, decide
from k3s_daas_webhook.enclave import EnclaveIdentity
from k3s_daas_webhook.index import IndexHolder
from k3s_daas_webhook.join import JoinRefusal, JoinService
from k3s_daas_webhook.metrics import (
    ALLOWED,
    AUTHENTICATED,
    BAD_REQUEST,
    DENIED,
    SERVED,
    UNAVAILABLE,
    WebhookMetrics,
)
from k3s_daas_webhook.verifier import TokenVerifier
from k3s_daas_webhook.verifypool import WorkerLost

log = logging.getLogger(__name__)

JSON: Final = "application/json"
# A TokenReview holds one token of at most 4 KiB; anything much larger is not one.
MAX_BODY_BYTES: Final = 64 * 1024
# An AdmissionReview carries the object and the old object, each up to etcd's 1.5 MiB request limit.
ADMISSION_MAX_BODY_BYTES: Final = 8 * 1024 * 1024


@dataclass
class WebhookState:
    holder: IndexHolder
    verifier: TokenVerifier
    metrics: WebhookMetrics
    join: JoinService | None = None
    clock: Callable[[], float] = time.time
    memo: AnswerMemo = field(default_factory=lambda: AnswerMemo(10_000))
    admission: AdmissionSources | None = None
    """The state /validate decides on; None: SealTokens only (StakedNodes and Namespaces empty)."""
    policy: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    enclave: EnclaveIdentity | None = None
    """The enclave key and attestation source /attestation answers with; None: not served."""

    def __post_init__(self) -> None:
        if self.admission is None:
            self.admission = AdmissionSources(self.holder)

    @property
    def sources(self) -> AdmissionSources:
        assert self.admission is not None  # set in __post_init__
        return self.admission


STATE_KEY: Final = web.AppKey("k3s_daas_webhook_state", WebhookState)


def _json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=body, content_type=JSON, headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json_response(status, json.dumps({"error": message}).encode(), headers)


async def _read(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 above ``limit`` (the application's own bound is the largest route's)."""
    size = request.content_length
    if size is not None and size > limit:
        refusal = web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        refusal.force_close()  # the rest of the body is never read: the connection cannot be reused
        raise refusal
    body = await request.read()
    if len(body) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return body


async def authenticate(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    metrics = state.metrics
    started = time.perf_counter()
    body = await _read(request, MAX_BODY_BYTES)
    memo = state.memo.get(body, state.holder.snapshot, state.clock())
    if memo is not None:
        metrics.cache_hit.inc()
        response = _json_response(200, memo)
        metrics.latency_by_result[AUTHENTICATED].observe(time.perf_counter() - started)
        return response
    try:
        review = tokenreview.parse_review(body)
    except tokenreview.BadRequest as error:
        metrics.latency_by_result[BAD_REQUEST].observe(time.perf_counter() - started)
        log.info("TokenReview refused (400): %s", error)
        return _error(400, f"malformed TokenReview: {error}")
    try:
        # Cache hits (the common case) stay synchronous: no coroutine, no trip to a worker.
        verified = state.verifier.cached(review.token) or await state.verifier.verify(review.token)
    except TokenRejected as rejection:
        reason, message, address = rejection.reason.value, rejection.detail, None
    except WorkerLost as error:
        metrics.latency_by_result[UNAVAILABLE].observe(time.perf_counter() - started)
        return _error(503, str(error), {"Retry-After": "1"})
    else:
        if not state.holder.synced:
            # Not a verdict: the API server retries 5xx, and the index is seconds from ready.
            metrics.latency_by_result[UNAVAILABLE].observe(time.perf_counter() - started)
            return _error(503, "SealToken index not synced yet", {"Retry-After": "1"})
        snapshot = state.holder.snapshot
        decision = decide(verified.claims, snapshot, state.clock())
        if isinstance(decision, Authenticated):
            answer = tokenreview.authenticated_for(review.api_version, decision.identity)
            # The memo ends by the token's exp at the latest; past it (within the leeway) the full path decides.
            state.memo.put(body, snapshot, answer, decision.valid_until)
            response = _json_response(200, answer)
            metrics.latency_by_result[AUTHENTICATED].observe(time.perf_counter() - started)
            return response
        reason, message, address = decision.reason.value, decision.message, verified.address
    metrics.authn_denials.labels(reason).inc()
    log.info("TokenReview denied: reason=%s address=%s: %s", reason, address or "-", message)
    response = _json_response(200, tokenreview.denied(review.api_version, f"k3s-daas: {reason}: {message}"))
    metrics.latency_by_result[DENIED].observe(time.perf_counter() - started)
    return response


async def validate(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    latency = state.metrics.latency_by_decision
    started = time.perf_counter()
    body = await _read(request, ADMISSION_MAX_BODY_BYTES)
    try:
        review = admissionreview.parse_review(body)
    except admissionreview.BadRequest as error:
        latency[BAD_REQUEST].observe(time.perf_counter() - started)
        log.info("AdmissionReview refused (400): %s", error)
        return _error(400, f"malformed AdmissionReview: {error}")
    sources = state.sources
    if not sources.synced:
        # Not a verdict: the API server applies the webhook's failurePolicy (docs/admission.md).
        latency[UNAVAILABLE].observe(time.perf_counter() - started)
        return _error(503, f"admission state not loaded yet: {', '.join(sources.unsynced())}", {"Retry-After": "1"})
    verdict = decide_admission(review, sources.current(), state.policy, state.clock())
    response = _json_response(
        200, admissionreview.answer(review.uid, verdict.allowed, verdict.message, verdict.rule.value)
    )
    if verdict.allowed:
        latency[ALLOWED].observe(time.perf_counter() - started)
        return response
    state.metrics.admission_denials.labels(verdict.rule.value).inc()
    log.info(
        "admission denied: rule=%s user=%s %s %s/%s: %s",
        verdict.rule.value,
        review.user.username[:80],
        review.operation,
        review.resource,
        review.name or "-",
        verdict.message,
    )
    latency[DENIED].observe(time.perf_counter() - started)
    return response


async def join_info(request: web.Request) -> web.Response:
    service = request.app[STATE_KEY].join
    if service is None:
        return _error(404, "this server does not serve /join (no Kubernetes access configured)")
    return _json_response(200, json.dumps(service.info()).encode())


async def join(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if state.join is None:
        return _error(404, "this server does not serve /join (no Kubernetes access configured)")
    body = await _read(request, MAX_BODY_BYTES)
    try:
        answer = await state.join.handle(body)
    except JoinRefusal as refusal:
        state.metrics.join_requests.labels(refusal.reason).inc()
        log.info("join refused (%d %s): %s", refusal.status, refusal.reason, refusal.message)
        headers = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s else None
        return _json_response(refusal.status, json.dumps(refusal.body()).encode(), headers)
    state.metrics.join_requests.labels("joined").inc()
    return _json_response(200, json.dumps(answer).encode(), {"Cache-Control": "no-store"})


async def attestation(request: web.Request) -> web.Response:
    """``GET /attestation[?nonce=HEX]``: a fresh document binding the enclave key and the nonce."""
    state = request.app[STATE_KEY]
    results = state.metrics.attestation_requests
    if state.enclave is None:
        return _error(404, "this server serves no attestation")
    nonces = request.query.getall("nonce", [])
    try:
        if len(nonces) > 1:
            raise MalformedAttestation("give one nonce")
        nonce = parse_nonce(nonces[0]) if nonces else None
    except MalformedAttestation as error:
        results.labels(BAD_REQUEST).inc()
        return _error(400, f"bad nonce: {error}")
    try:
        # The NSM answers through a blocking ioctl (development documents are signed in Python):
        # off the event loop, so TokenReviews and AdmissionReviews never wait behind it.
        answer = await asyncio.to_thread(state.enclave.attest, nonce)
    except NsmError as error:
        results.labels(UNAVAILABLE).inc()
        log.warning("attestation failed: %s", error)
        return _error(503, f"attestation unavailable: {error}", {"Retry-After": "1"})
    results.labels(SERVED).inc()
    # Each document is made for one nonce: nothing may cache it.
    return _json_response(200, json.dumps(answer.to_json()).encode(), {"Cache-Control": "no-store"})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if not state.holder.synced:
        return web.Response(status=503, text="SealToken index not synced yet")
    if not state.sources.synced:
        return web.Response(status=503, text=f"not synced yet: {', '.join(state.sources.unsynced())}")
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.Response(body=state.metrics.exposition(), headers={"Content-Type": state.metrics.content_type})


_NOOP_BODY: Final = b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":false}}'


async def noop(request: web.Request) -> web.Response:
    """Benchmark baseline: reads the body and answers a constant, on the same stack as /authenticate."""
    await request.read()
    return _json_response(200, _NOOP_BODY)


def create_app(state: WebhookState, *, benchmark_noop: bool = False) -> web.Application:
    app = web.Application(client_max_size=ADMISSION_MAX_BODY_BYTES)
    app[STATE_KEY] = state
    app.router.add_post("/authenticate", authenticate)
    app.router.add_post("/validate", validate)
    app.router.add_get("/join", join_info)
    app.router.add_post("/join", join)
    app.router.add_get("/attestation", attestation)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if benchmark_noop:
        app.router.add_post("/noop", noop)
    return app
