"""Build the operator from settings and run it: the engine (with its SealToken and StakedNode
watches) on the main event loop, kopf (settings, login, the Node watch) on its own loop in a thread.

kopf, when it stops, cancels every task created after it started, after a five-second grace; on
its own loop it can only reach its own tasks, and the engine shuts down on its own terms.

With leader election on, everything but /metrics and /healthz waits for the Lease (leader.py); losing
it stops the process (the Deployment restarts it as a standby).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Coroutine
from typing import Any

import kopf

from k3s_daas.chain import ChainClient
from k3s_daas.settings import Settings
from k3s_daas_operator.chain_view import ChainView
from k3s_daas_operator.context import Context
from k3s_daas_operator.cursor_store import CursorStore
from k3s_daas_operator.engine import Engine
from k3s_daas_operator.follower import EventFollower
from k3s_daas_operator.handlers import build_registry
from k3s_daas_operator.heartbeat import HeartbeatPublisher
from k3s_daas_operator.index import ClusterIndex
from k3s_daas_operator.kube import Connection, KubeClient, load_connection
from k3s_daas_operator.leader import LeaderElector, new_identity
from k3s_daas_operator.metrics import OperatorMetrics, serve_metrics
from k3s_daas_operator.recorder import EventRecorder
from k3s_daas_operator.workqueue import WorkQueue

log = logging.getLogger(__name__)


async def run_operator(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set, SIGINT/SIGTERM arrives (main thread), or a part fails."""
    config = settings.operator
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    connection = await asyncio.to_thread(load_connection, config.kubeconfig)
    kube = KubeClient(connection, config.max_parallel_requests)
    metrics = OperatorMetrics()
    chain = await ChainClient.connect(settings.chain, metrics.chain)
    runner = None
    try:
        if config.metrics_port:
            runner = await serve_metrics(metrics, config.metrics_host, config.metrics_port)
        ctx = Context(
            settings=config,
            kube=kube,
            view=ChainView(chain),
            index=ClusterIndex(),
            queue=WorkQueue(),
            recorder=EventRecorder(kube),
            metrics=metrics,
        )
        store = CursorStore(kube, config.namespace, chain.package_id)

        def follower(engine: Engine) -> EventFollower:
            return EventFollower(chain, store, engine.apply_events, metrics, config.event_poll_interval_s)

        identity = new_identity()
        heartbeat = HeartbeatPublisher(kube, config.namespace, identity, chain.package_id)
        engine = Engine(ctx, follower, heartbeat)
        log.info(
            "operator starting: chain %s, package %s, API server %s",
            settings.chain.url,
            chain.package_id,
            connection.server,
        )
        elector = LeaderElector(kube, config.namespace, identity) if config.leader_election else None
        if elector is not None and not await _first(elector.acquire(), stop):
            return
        metrics.leader.set(1)
        try:
            await _run_side_by_side(engine, connection, stop, elector)
        finally:
            metrics.leader.set(0)
            if elector is not None and stop.is_set():
                await elector.release()
    finally:
        if runner is not None:
            await runner.cleanup()
        await chain.close()
        await kube.close()


async def _first(job: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run ``job`` until it ends (True) or ``stop`` is set first (False)."""
    task = asyncio.create_task(job)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopped):
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
    return not stop.is_set()


async def _run_side_by_side(
    engine: Engine, connection: Connection, stop: asyncio.Event, elector: LeaderElector | None
) -> None:
    kopf_stop = threading.Event()
    registry = build_registry(engine, connection, asyncio.get_running_loop())

    def run_kopf() -> None:
        kopf.run(registry=registry, clusterwide=True, standalone=True, stop_flag=kopf_stop)

    tasks = {asyncio.create_task(engine.run(), name="engine"), asyncio.create_task(stop.wait(), name="stop")}
    if elector is not None:
        tasks.add(asyncio.create_task(elector.hold(), name="leader-election"))
    try:
        # kopf discovers the resources it serves once, at start (scanning is off): start it once
        # the engine has listed them, i.e. once the CRDs are served.
        started = asyncio.create_task(engine.started.wait())
        await asyncio.wait({started, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        if engine.started.is_set():
            tasks.add(asyncio.create_task(asyncio.to_thread(run_kopf), name="kopf"))
        else:
            started.cancel()
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        kopf_stop.set()
        for task in tasks:
            if task.get_name() != "kopf":
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    for task in done:
        if task.get_name() != "stop":
            raise RuntimeError(f"the operator's {task.get_name()} stopped unexpectedly")


def _stop_on_signals(stop: asyncio.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
