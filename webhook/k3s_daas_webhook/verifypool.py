"""Signature verification in worker processes, fed in batches over pipes by the event loop.

Why processes, not threads: measured on this project's 2-core machine, a thread pool nearly doubled
the server CPU per first-seen token (Ed25519: 368 -> 648 us) because most of a verification is Python
(pyjwt, claim checks) that holds the GIL, so the loop and the threads hand the GIL back and forth.
Worker processes verify in parallel with the loop for real; the loop's share is a pickle per batch.
They are plain child processes (``python -m k3s_daas_webhook.verifyworker``) on asyncio pipes, not
``multiprocessing``: no re-import of the main module, no blocking pipe writes on the loop.

Scheduling: at most one batch in flight per worker, dispatched once per event-loop iteration (after
every request that arrived in the same wake-up has been parsed). Tokens that arrive while every
worker is busy wait and go out together in the next batch, so batches grow under load (amortizing the
pipe and wake-up cost, which on this machine is most of a worker's time at one token per batch)
and stay single-token at low load (lowest latency: one loop iteration). A worker that dies fails its batch as a
transient error (the API server retries a 5xx) and is replaced, with a growing delay if it keeps dying.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import pickle
import struct
import sys
from dataclasses import dataclass, field
from typing import Any, Final

from k3s_daas.sealtoken import API_TOKEN, JOIN_REQUEST, Rejection, TokenRejected, VerifiedToken, verify_token

log = logging.getLogger(__name__)

_PROFILES: Final = {"api": API_TOKEN, "join": JOIN_REQUEST}
_HEADER: Final = struct.Struct(">I")
_READY: Final = b"ready"
_MAX_BATCH: Final = 256
_START_TIMEOUT_S: Final = 60.0


class WorkerLost(Exception):
    """A verification worker died with this token in its batch, or none is running; transient: retry."""


@dataclass(frozen=True, slots=True)
class Job:
    token: str
    audience: str | None
    profile: str
    now: float
    leeway_s: float
    max_lifetime_s: float


def run_job(job: Job) -> VerifiedToken | tuple[str, str]:
    """Verify one token: the verified token, or (reason, detail) (exceptions do not pickle simply)."""
    try:
        return verify_token(
            job.token,
            audience=job.audience,
            now=job.now,
            profile=_PROFILES[job.profile],
            leeway_s=job.leeway_s,
            max_lifetime_s=job.max_lifetime_s,
        )
    except TokenRejected as rejection:
        return rejection.reason.value, rejection.detail


_Item = tuple[Job, "asyncio.Future[VerifiedToken]"]


@dataclass(eq=False)
class _Worker:
    process: asyncio.subprocess.Process
    batch: list[_Item] | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None


class VerifyPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: list[_Worker] = []
        self._pending: collections.deque[_Item] = collections.deque()
        self._closed = False
        self._restart_delay_s = 0.5
        self._restarts: set[asyncio.Task[None]] = set()
        self._start_failure: asyncio.Future[None] | None = None
        self._dispatch_scheduled = False

    async def start(self) -> None:
        """Start the workers; fails (and cleans up) if one exits or none is ready in time."""
        failure: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._start_failure = failure
        started = [await self._spawn() for _ in range(self.workers)]
        ready: asyncio.Future[list[bool]] = asyncio.ensure_future(
            asyncio.gather(*(worker.ready.wait() for worker in started))
        )
        try:
            either: list[asyncio.Future[Any]] = [ready, failure]
            await asyncio.wait(either, timeout=_START_TIMEOUT_S, return_when="FIRST_COMPLETED")
            if not ready.done():
                reason = failure.exception() if failure.done() else "no answer in time"
                raise RuntimeError(f"signature verification workers did not start: {reason}")
        except BaseException:
            ready.cancel()
            await self.close()
            raise
        finally:
            self._start_failure = None
        log.info("%d signature verification worker processes ready", self.workers)

    async def _spawn(self) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "k3s_daas_webhook.verifyworker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = _Worker(process)
        worker.reader = asyncio.create_task(self._read(worker), name=f"verify-worker-{process.pid}")
        self._pool.append(worker)
        return worker

    def verify(self, job: Job) -> asyncio.Future[VerifiedToken]:
        future: asyncio.Future[VerifiedToken] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(WorkerLost("the server is stopping"))
            return future
        self._pending.append((job, future))
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)
        return future

    def _dispatch(self) -> None:
        self._dispatch_scheduled = False
        for worker in self._pool:
            if not self._pending:
                return
            if not worker.ready.is_set() or worker.batch is not None:
                continue
            batch: list[_Item] = []
            while self._pending and len(batch) < _MAX_BATCH:
                item = self._pending.popleft()
                if not item[1].done():  # a request that gave up (client gone) needs no answer
                    batch.append(item)
            if not batch:
                return
            worker.batch = batch
            data = pickle.dumps([job for job, _ in batch], protocol=pickle.HIGHEST_PROTOCOL)
            stdin = worker.process.stdin
            assert stdin is not None
            # A pipe write that does not fit the buffer is queued by the transport, never blocks the loop.
            stdin.write(_HEADER.pack(len(data)) + data)

    async def _read(self, worker: _Worker) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        try:
            while True:
                header = await stdout.readexactly(_HEADER.size)
                data = await stdout.readexactly(_HEADER.unpack(header)[0])
                if not worker.ready.is_set():
                    if data == _READY:
                        worker.ready.set()
                        self._restart_delay_s = 0.5
                        self._dispatch()
                    continue
                self._deliver(worker, pickle.loads(data))  # noqa: S301 - our own worker process
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if not self._closed:
                self._lost(worker)

    def _deliver(self, worker: _Worker, results: list[VerifiedToken | tuple[str, str]]) -> None:
        batch, worker.batch = worker.batch or [], None
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, VerifiedToken):
                future.set_result(result)
            else:
                future.set_exception(TokenRejected(Rejection(result[0]), result[1]))
        self._dispatch()

    def _lost(self, worker: _Worker) -> None:
        with contextlib.suppress(ValueError):
            self._pool.remove(worker)
        if self._start_failure is not None and not self._start_failure.done():
            self._start_failure.set_exception(RuntimeError(f"worker {worker.process.pid} exited during start-up"))
            return
        for _, future in worker.batch or []:
            if not future.done():
                future.set_exception(WorkerLost("a signature verification worker exited; retry"))
        if worker.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
        if not any(w.ready.is_set() for w in self._pool):
            # Nobody can take queued tokens now: fail them fast rather than let requests hang.
            while self._pending:
                _, future = self._pending.popleft()
                if not future.done():
                    future.set_exception(WorkerLost("no signature verification worker is running; retry"))
        delay, self._restart_delay_s = self._restart_delay_s, min(self._restart_delay_s * 2, 30.0)
        log.warning("signature verification worker %d exited; replacing it in %.1f s", worker.process.pid, delay)
        task = asyncio.create_task(self._respawn(delay))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _respawn(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if not self._closed:
            await self._spawn()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._restarts):
            task.cancel()
        for worker in self._pool:
            if worker.process.stdin is not None:
                worker.process.stdin.close()  # end of input: the worker returns
        for worker in self._pool:
            try:
                await asyncio.wait_for(worker.process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
            if worker.reader is not None:
                worker.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.reader
            for _, future in worker.batch or []:
                if not future.done():
                    future.set_exception(WorkerLost("the server is stopping"))
        self._pool.clear()
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.set_exception(WorkerLost("the server is stopping"))
