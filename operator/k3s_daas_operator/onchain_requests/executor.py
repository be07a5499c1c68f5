"""The executor loop: follow ``K8sAPIRequest`` events, settle each request, persist the cursor.

A request is *settled* when the chain holds its response. Requests are settled one at a time, in
chain order; one that another executor is working on is looked at again on the next poll, and the
ones after it go on. The persisted cursor only passes settled requests, so a restart resumes at
the first unsettled one (``cursor``), and the claims make the resumption exactly-once (``claims``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from prometheus_client import CollectorRegistry

from k3s_daas.chain import ChainClient, ChainError
from k3s_daas.chain.enclave import RegisteredEnclave
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.onchain_requests.signing import body_digest, response_message
from k3s_daas_operator import retry
from k3s_daas_operator.kube import KubeClient, KubeError
from k3s_daas_operator.onchain_requests import claims, metrics, requests
from k3s_daas_operator.onchain_requests.claim_store import ClaimStore
from k3s_daas_operator.onchain_requests.claims import Claim, SignedOutcome, Step
from k3s_daas_operator.onchain_requests.cursor import RequestCursor
from k3s_daas_operator.onchain_requests.metrics import ExecutorMetrics
from k3s_daas_operator.onchain_requests.relay import Relay, Relayed, RelayError
from k3s_daas_operator.onchain_requests.requests import ChainRequest, MalformedEvent, Refusal
from k3s_daas_operator.onchain_requests.status import status_body
from k3s_daas_operator.onchain_requests.transport import ImpersonatingTransport, Impersonation, TransportError

log = logging.getLogger(__name__)

_RETRY_CAP_S: Final = 10.0
_RETRYABLE: Final = (KubeError, ChainError)
_UNREGISTERED_LOG_EVERY_S: Final = 30.0
_GET_ATTEMPTS: Final = 3
"""Times a GET the API server does not answer is tried (in this process) before it is answered 504."""


@dataclass(frozen=True, slots=True)
class Unauthenticated:
    """The sender has no usable Seal token: the authenticator would refuse its kubectl too."""

    message: str


Identify = Callable[[str], Impersonation | Unauthenticated]


@dataclass(frozen=True)
class ExecutorConfig:
    namespace: str
    poll_interval_s: float
    execute_timeout_s: float
    onchain_body_bytes: int


@dataclass
class _Entry:
    request: ChainRequest | None
    """None: an event that is not a request (malformed): nothing to settle."""
    cursor: str
    settled: bool = False


@dataclass
class Executor:
    chain: ChainClient
    kube: KubeClient
    transport: ImpersonatingTransport
    relay: Relay
    key: EnclaveKey
    identify: Identify
    identities_ready: Callable[[], bool]
    """False until the SealToken index is loaded: nothing is executed before."""
    config: ExecutorConfig
    clock: Callable[[], float] = time.time
    instance: str = field(default_factory=lambda: secrets.token_hex(8))
    metrics: ExecutorMetrics = field(default_factory=lambda: ExecutorMetrics(CollectorRegistry()))
    """On the registry of the process that runs the executor (the webhook's /metrics); by default a
    registry of its own that nobody scrapes."""
    claims: ClaimStore | None = None
    """Set by ``run`` (it needs the Gateway id), unless given."""
    settled_total: int = 0
    _enclave: RegisteredEnclave | None = None
    _unregistered_logged: float = 0.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _get_failures: dict[int, int] = field(default_factory=dict)
    """Request id -> failed attempts of a GET whose API server call failed (``_GET_ATTEMPTS``)."""
    _unrecorded: dict[int, SignedOutcome] = field(default_factory=dict)
    """Request id -> an outcome signed but not recorded (the API server failed): recorded, not recomputed."""

    def stop(self) -> None:
        """Ask ``run`` to return after the request in progress (if any); the caller bounds the wait."""
        self._stop.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self) -> None:
        if self.claims is None:
            deployment = await retry.until_done("read the deployment", self.chain.deployment, _RETRYABLE, log)
            self.claims = ClaimStore(self.kube, self.config.namespace, deployment.gateway_id)
        store = RequestCursor(self.kube, self.config.namespace, self.chain.package_id)
        saved = await retry.until_done("load the request cursor", store.load, _RETRYABLE, log)
        log.info("executing on-chain requests from %s", f"cursor {saved}" if saved else "the first request")
        event_type = f"{self.chain.package_id}::k8s_gateway::K8sAPIRequest"
        read, last_saved, entries, failures = saved, saved, list[_Entry](), 0
        while not self._stop.is_set():
            try:
                page = await self.chain.events(after=read, event_type=event_type)
            except ChainError as error:
                failures += 1
                await self._pause(f"reading K8sAPIRequest events failed ({error})", failures)
                continue
            failures = 0
            self.metrics.last_poll.set(self.clock())
            for event in page.events:
                try:
                    entries.append(_Entry(ChainRequest.from_event(event.fields, event.timestamp_ms), event.cursor))
                except MalformedEvent as error:
                    log.warning("skipping a K8sAPIRequest event with %s", error)
                    entries.append(_Entry(None, event.cursor, settled=True))
            read = page.cursor
            self._track_pending(entries)  # before the work: a relay that hangs shows as a pending request
            if any(not entry.settled for entry in entries):
                await self._work(entries)
            while entries and entries[0].settled:
                saved = entries.pop(0).cursor
            self._track_pending(entries)
            if saved is not None and saved != last_saved:
                await retry.until_done("save the request cursor", partial(store.save, saved), _RETRYABLE, log)
                last_saved = saved
            if not page.has_more:
                await self._sleep(self.config.poll_interval_s)

    def _track_pending(self, entries: list[_Entry]) -> None:
        pending = [entry.request for entry in entries if not entry.settled and entry.request is not None]
        stamps = [request.submitted_at_ms for request in pending if request.submitted_at_ms is not None]
        self.metrics.set_pending(len(pending), min(stamps, default=None))

    async def _work(self, entries: list[_Entry]) -> None:
        if not self.identities_ready():
            return
        enclave = await self._current_enclave()
        if enclave is None:
            return
        for entry in entries:
            if self._stop.is_set():
                return
            if entry.settled or entry.request is None:
                continue
            try:
                entry.settled = await self._settle(entry.request, enclave)
            except (ChainError, KubeError, RelayError) as error:
                log.warning("request %d not settled yet: %s", entry.request.request_id, error)
                return
            if entry.settled:
                self.settled_total += 1

    async def _settle(self, request: ChainRequest, enclave: RegisteredEnclave) -> bool:
        assert self.claims is not None
        if await self.chain.response(request.request_id) is not None:
            return True
        claim = await self.claims.get(request.request_id)
        now = self._now_ms()
        stale_after = int(self.config.execute_timeout_s * 2000)
        unrecorded = self._unrecorded.pop(request.request_id, None)
        if claim is not None:
            enclaves = await self.chain.enclaves() if claim.outcome is not None else []
            problem = claims.tampering(claim, request, enclaves, now, stale_after)
            if problem:
                return await self._answer_tampered(request, claim, enclave, problem)
            if unrecorded is not None and claim.outcome is None and claim.executor == self.instance:
                # Executed and signed by this process; only recording it failed: record that, not a 504.
                return await self._record_and_relay(request, claim, enclave, unrecorded)
        step = claims.next_step(claim, request, self.instance, now, stale_after)
        if step is Step.WAIT:
            return False
        if step is Step.RELAY:
            assert claim is not None
            recorded_by = metrics.THIS_INSTANCE if claim.executor == self.instance else metrics.ANOTHER_INSTANCE
            self.metrics.rerelays.labels(recorded_by).inc()
            return await self._relay(request, claim, enclave)
        if step is Step.CLAIM:
            mine = await self.claims.create(
                request, Claim(request.request_id, request.sender, self.instance, now, None)
            )
        else:
            assert claim is not None
            mine = await self.claims.replace(
                request, dataclasses.replace(claim, executor=self.instance, claimed_at_ms=now)
            )
        if mine is None:
            # Another executor claimed or took it over first.
            self.metrics.claims_lost.labels("claim" if step is Step.CLAIM else "take_over").inc()
            return False
        if step is Step.INTERRUPTED:
            log.warning("request %d: its executor stopped mid-execution; answering 504", request.request_id)
            self.metrics.count_answer(metrics.INTERRUPTED, 504)
            return await self._answer(request, mine, enclave, 504, claims.interrupted_body(request))
        return await self._execute(request, mine, enclave)

    async def _answer_tampered(
        self, request: ChainRequest, claim: Claim, enclave: RegisteredEnclave, problem: str
    ) -> bool:
        """A claim no executor wrote: answered 500 under this executor's signature, never its contents.

        Answering (rather than skipping) keeps the cursor moving and every request answered once; the
        claim is replaced like a take-over, so a concurrent writer of it loses with a 409."""
        log.warning("request %d: its claim ConfigMap is tampered with: %s; answering 500", request.request_id, problem)
        self.metrics.claims_tampered.inc()
        mine = dataclasses.replace(claim, executor=self.instance, claimed_at_ms=self._now_ms(), outcome=None)
        self.metrics.count_answer(metrics.TAMPERED, 500)
        return await self._answer(request, mine, enclave, 500, claims.tampered_body(request, problem))

    async def _execute(self, request: ChainRequest, claim: Claim, enclave: RegisteredEnclave) -> bool:
        plan = requests.plan(request)
        who = self.identify(request.sender)
        if isinstance(plan, Refusal):
            outcome, status, body = metrics.REFUSED, plan.status_code, plan.body
        elif isinstance(who, Unauthenticated):
            outcome, status, body = (
                metrics.UNAUTHENTICATED,
                401,
                status_body(401, f"k3s-daas on-chain request: {who.message}"),
            )
        else:
            try:
                outcome, (status, body) = metrics.EXECUTED, await self.transport.call(plan, who)
            except TransportError as error:
                failures = self._get_failures.get(request.request_id, 0) + 1
                if request.safe and failures < _GET_ATTEMPTS:
                    self._get_failures[request.request_id] = failures
                    log.warning("request %d: %s; it will be executed again", request.request_id, error)
                    return False
                self._get_failures.pop(request.request_id, None)
                unknown = (
                    f"the API server did not answer {failures} attempts"
                    if request.safe
                    else "whether it took effect is unknown, and it is not executed again"
                )
                outcome, status, body = (
                    metrics.UNREACHABLE,
                    504,
                    status_body(
                        504,
                        f"k3s-daas on-chain request {request.request_id}: {error}; {unknown}",
                    ),
                )
        status, body = claims.kept_body(status, body)
        self.metrics.count_answer(outcome, status)
        log.info(
            "request %d %s %s by %s: %d", request.request_id, request.method, request.path[:120], request.sender, status
        )
        return await self._answer(request, claim, enclave, status, body)

    async def _answer(
        self, request: ChainRequest, claim: Claim, enclave: RegisteredEnclave, status: int, body: bytes
    ) -> bool:
        outcome = self._sign(request.request_id, status, body, enclave)
        return await self._record_and_relay(request, claim, enclave, outcome)

    async def _record_and_relay(
        self, request: ChainRequest, claim: Claim, enclave: RegisteredEnclave, outcome: SignedOutcome
    ) -> bool:
        assert self.claims is not None
        try:
            recorded = await self.claims.replace(request, dataclasses.replace(claim, outcome=outcome))
        except KubeError:
            self._unrecorded[request.request_id] = outcome  # retried by the next _settle (409 returns None)
            raise
        if recorded is None:
            self.metrics.claims_lost.labels("record").inc()
            return False
        return await self._relay(request, recorded, enclave)

    def _sign(self, request_id: int, status: int, body: bytes, enclave: RegisteredEnclave) -> SignedOutcome:
        digest, signed_at = body_digest(body), self._now_ms()
        signed = self.key.sign(response_message(request_id, status, digest, signed_at))
        return SignedOutcome(status, body.decode("utf-8"), digest, enclave.object_id, signed_at, signed.signature)

    async def _relay(self, request: ChainRequest, claim: Claim, enclave: RegisteredEnclave) -> bool:
        assert claim.outcome is not None
        try:
            result = await self.relay.store(request.request_id, claim.outcome, self.config.onchain_body_bytes)
        except RelayError:
            self.metrics.relays.labels(metrics.RELAY_FAILED).inc()
            raise
        self.metrics.relays.labels(result.value).inc()
        if result is Relayed.STORED and request.submitted_at_ms is not None:
            self.metrics.response_seconds.observe(max(0.0, self.clock() - request.submitted_at_ms / 1000))
        if result is not Relayed.ENCLAVE_NOT_CURRENT:
            return True
        if claim.outcome.enclave_id == enclave.object_id:
            self._enclave = None  # ours is outdated too: look it up again (it must register anew)
            self.metrics.enclave_registered.set(0)
            return False
        # Recorded under an enclave since outdated (new PCRs): the recorded outcome, signed again by ours.
        # ``_settle`` checked its signature against that enclave's registered key (``claims.tampering``).
        outcome = claim.outcome
        return await self._answer(request, claim, enclave, outcome.status_code, outcome.body.encode("utf-8"))

    async def _current_enclave(self) -> RegisteredEnclave | None:
        if self._enclave is not None:
            return self._enclave
        try:
            config = await self.chain.enclave_config()
            mine = [e for e in await self.chain.enclaves() if e.public_key == self.key.public_key and e.current(config)]
        except ChainError as error:
            log.warning("cannot read the enclave registration: %s", error)
            return None
        self.metrics.enclave_registered.set(1 if mine else 0)
        if not mine:
            if time.monotonic() - self._unregistered_logged > _UNREGISTERED_LOG_EVERY_S:
                self._unregistered_logged = time.monotonic()
                log.warning(
                    "on-chain requests wait: enclave key %s is not registered under the current PCRs "
                    "(docs/enclave.md, docs/onchain-requests.md)",
                    self.key.public_key.hex(),
                )
            return None
        self._enclave = max(mine, key=lambda e: e.registered_at_ms)
        log.info("signing on-chain responses as enclave %s", self._enclave.object_id)
        return self._enclave

    async def read_outcome(self, request_id: int) -> tuple[str, SignedOutcome] | None:
        """(sender, outcome) of a request whose outcome is recorded: for the off-chain body endpoint."""
        if self.claims is None:
            return None
        claim = await self.claims.get(request_id)
        if claim is None or claim.outcome is None:
            return None
        return claim.sender, claim.outcome

    async def _pause(self, why: str, failures: int) -> None:
        delay = min(_RETRY_CAP_S, self.config.poll_interval_s * 2**failures)
        log.warning("%s; retrying in %.1f s", why, delay)
        await asyncio.sleep(delay)
