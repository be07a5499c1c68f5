"""The aiohttp application: thin handlers that move bytes between HTTP and the pure core.

Routes: POST /authenticate (TokenReview), POST /validate (AdmissionReview), GET|POST /join,
GET /attestation (the enclave's attestation document), GET /requests/<id>/body (an on-chain
request's body kept off chain, for its sender), GET /healthz, /readyz, /metrics.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from aiohttp import web

from k3s_daas import logs
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

if TYPE_CHECKING:
    from k3s_daas_webhook.onchain import OnchainRequests

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
    shutting_down: bool = False
    """Set on SIGTERM: /readyz answers 503 so traffic moves away while requests are still served."""
    in_flight: int = 0
    """Requests whose handler is running (the shutdown waits for them)."""
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever ``in_flight`` drops to 0."""
    body_timeout_s: float = 10.0
    """A request whose body is still arriving this long after its head loses its connection."""
    request_ids: Iterator[int] = field(default_factory=itertools.count)
    request_id_prefix: str = field(default_factory=lambda: secrets.token_hex(4))
    """Generated request ids are this process's prefix and a counter: unique, and no system call."""
    onchain: OnchainRequests | None = None
    """The on-chain request executor this process hosts (--onchain-requests); None: not run."""

    def __post_init__(self) -> None:
        if self.admission is None:
            self.admission = AdmissionSources(self.holder)

    @property
    def sources(self) -> AdmissionSources:
        assert self.admission is not None  # set in __post_init__
        return self.admission


STATE_KEY: Final = web.AppKey("k3s_daas_webhook_state", WebhookState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    adopt_request_id(request, review.uid)
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
    if state.shutting_down:
        return web.Response(status=503, text="shutting down")
    if not state.holder.synced:
        return web.Response(status=503, text="SealToken index not synced yet")
    if not state.sources.synced:
        return web.Response(status=503, text=f"not synced yet: {', '.join(state.sources.unsynced())}")
    resyncing = state.sources.resyncing()
    if resyncing:
        # A watch was lost (the API server restarted, ...): requests are still answered from the last
        # snapshot, but this replica is not ready until it has listed again.
        return web.Response(status=503, text=f"resyncing after a lost watch: {', '.join(resyncing)}")
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.Response(body=state.metrics.exposition(), headers={"Content-Type": state.metrics.content_type})


_NOOP_BODY: Final = b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":false}}'


async def noop(request: web.Request) -> web.Response:
    """Benchmark baseline: reads the body and answers a constant, on the same stack as /authenticate."""
    await request.read()
    return _json_response(200, _NOOP_BODY)


REQUEST_ID_HEADER: Final = "X-Request-Id"
# What a request id may look like: a UUID, an audit id, a tracing id; nothing that could forge a log line.
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_REQUEST_ID_GIVEN: Final = web.RequestKey("k3s_daas_request_id_given", bool)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What every request gets, in one middleware layer (each layer costs several microseconds a
    request here, measurable against the TokenReview budget):

    * an id: the caller's X-Request-Id, else (set by the handler) the AdmissionReview's uid, else a
      generated one; log lines written while handling it carry it (k3s_daas.logs) and the response
      echoes it in X-Request-Id;
    * a place in the in-flight count the shutdown waits on; once the shutdown has begun, the answer
      asks the client to close its connection, so keep-alive traffic moves to other replicas too;
    * a body deadline: aiohttp bounds the request head (``idle_timeout_s``) but not the body, and a
      client trickling one would hold its handler forever. Only the connection is cut: the handler's
      read fails, nothing in the decision code is cancelled. Bodies that came with the head (nearly
      all reviews) need no timer.
    """
    state = request.app[STATE_KEY]
    given = request.headers.get(REQUEST_ID_HEADER)
    valid = given is not None and _REQUEST_ID.fullmatch(given) is not None
    request[_REQUEST_ID_GIVEN] = valid
    token = logs.set_request_id(given if valid else f"{state.request_id_prefix}-{next(state.request_ids):x}")
    timer = None
    if not request.content.is_eof():
        timer = asyncio.get_running_loop().call_later(state.body_timeout_s, _drop_if_body_unread, request)
    state.in_flight += 1
    state.idle.clear()
    try:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            error.headers[REQUEST_ID_HEADER] = logs.current_request_id() or ""
            raise
        except ConnectionResetError:
            # The connection is gone (dropped by the deadline, or by the client): nobody reads this
            # answer, but returning one keeps aiohttp from logging a lost connection as a server error.
            return web.Response(status=408, text="request body not received in time")
        response.headers[REQUEST_ID_HEADER] = logs.current_request_id() or ""
        if state.shutting_down:
            response.force_close()
        return response
    finally:
        if timer is not None:
            timer.cancel()
        state.in_flight -= 1
        if not state.in_flight:
            state.idle.set()
        logs.reset_request_id(token)


def _drop_if_body_unread(request: web.Request) -> None:
    if not request.content.is_eof() and request.transport is not None:
        log.info("dropping a client whose %s %s body is still arriving", request.method, request.path)
        request.transport.close()


def adopt_request_id(request: web.Request, uid: str) -> None:
    """The review's uid becomes the request id, unless the caller named one."""
    if not request.get(_REQUEST_ID_GIVEN, True) and _REQUEST_ID.fullmatch(uid):
        logs.set_request_id(uid)


async def request_body(request: web.Request) -> web.Response:
    """``GET /requests/<id>/body``: an on-chain request's response body kept off chain, for its sender."""
    from k3s_daas_webhook import onchain

    state = request.app[STATE_KEY]
    return await onchain.body(request, state.onchain, state.verifier)


def create_app(state: WebhookState, *, benchmark_noop: bool = False) -> web.Application:
    app = web.Application(client_max_size=ADMISSION_MAX_BODY_BYTES, middlewares=[request_context])
    app[STATE_KEY] = state
    app.router.add_post("/authenticate", authenticate)
    app.router.add_post("/validate", validate)
    app.router.add_get("/join", join_info)
    app.router.add_post("/join", join)
    app.router.add_get("/attestation", attestation)
    app.router.add_get("/requests/{request_id}/body", request_body)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if benchmark_noop:
        app.router.add_post("/noop", noop)
    return app
