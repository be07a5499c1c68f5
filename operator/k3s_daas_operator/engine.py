"""The reconcile loop: watch events in, batched chain reads, reconcilers out, timers around.

The engine lists and watches SealTokens and StakedNodes itself (collection_watch), kopf delivers
Nodes (``observe_node``), the event follower delivers chain changes (``apply_events``); all of
them only mark objects in the work queue. One worker takes everything queued, reads what the
chain must tell about it in batches of 50 (a few queries in flight), and reconciles the objects
concurrently (the Kubernetes client bounds the requests in flight). Reads of one chunk overlap
with the writes of the previous one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from k3s_daas.chain import ChainError, ChainEvent, ChainTransientError
from k3s_daas_operator import creation, names, rbac_sync, retention
from k3s_daas_operator.collection_watch import CollectionWatch, list_collection
from k3s_daas_operator.context import Context
from k3s_daas_operator.follower import EventFollower
from k3s_daas_operator.heartbeat import HeartbeatPublisher
from k3s_daas_operator.index import Key, Kind
from k3s_daas_operator.kube import KubeError, NotFound, core_path, custom_path
from k3s_daas_operator.resources import NodePhase, SealTokenPhase
from k3s_daas_operator.sealtoken_reconciler import reconcile_sealtoken
from k3s_daas_operator.stakednode_reconciler import reconcile_stakednode

log = logging.getLogger(__name__)

CHUNK: Final = 200
"""Objects per chain-read chunk of a batch: the first writes wait for one chunk's reads (two
rounds of READS_IN_FLIGHT queries), the rest overlap with writes."""
_RETRY_CAP_S: Final = 60.0
_METRICS_PERIOD_S: Final = 1.0
"""Phase counts are a pass over the index (milliseconds at ten thousand objects): keep them fresh."""
_MAX_DEFERRALS: Final = 3
"""Verify ticks skipped while busy before verifying anyway (a steady stream of work must not starve it)."""


class Engine:
    def __init__(
        self,
        ctx: Context,
        follower_factory: Callable[[Engine], EventFollower],
        heartbeat: HeartbeatPublisher | None = None,
    ) -> None:
        self.ctx = ctx
        self.follower = follower_factory(self)
        self.heartbeat = heartbeat
        self.started = asyncio.Event()
        self._failures: dict[Key, int] = {}
        self.chain_failures: set[Key] = set()
        """Objects whose last attempt failed on a chain read: their chain state is not in the cluster."""
        self._verify_deferred = 0
        self._cold_batch = 0
        self._versions: dict[Kind, str] = {}
        """The resourceVersion each collection was listed at by ``load``: its watch starts there."""

    # --- what the API server tells -----------------------------------------------------------

    def observe_sealtoken(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        index = self.ctx.index
        if event_type == "DELETED":
            index.delete(Kind.SEALTOKEN, body)
            # Its binding goes with it (owner reference), but the shared role it used must be released.
            self.ctx.queue.mark([Key(Kind.SEALTOKEN, str((body.get("metadata") or {}).get("name")))])
            return
        old = index.sealtokens.get(str((body.get("metadata") or {}).get("name")))
        fresh = index.upsert_sealtoken(body)
        if fresh is not None and (old is None or old.uid != fresh.uid or old.generation != fresh.generation):
            self.ctx.queue.mark([Key(Kind.SEALTOKEN, fresh.name)])

    def observe_stakednode(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        index = self.ctx.index
        if event_type == "DELETED":
            index.delete(Kind.STAKEDNODE, body)
            return
        old = index.stakednodes.get(str((body.get("metadata") or {}).get("name")))
        fresh = index.upsert_stakednode(body)
        if fresh is not None and (old is None or old.uid != fresh.uid or old.generation != fresh.generation):
            self.ctx.queue.mark([Key(Kind.STAKEDNODE, fresh.name)])

    def relisted_sealtokens(self, items: list[dict[str, Any]]) -> None:
        self._relisted(Kind.SEALTOKEN, items, self.observe_sealtoken)

    def relisted_stakednodes(self, items: list[dict[str, Any]]) -> None:
        self._relisted(Kind.STAKEDNODE, items, self.observe_stakednode)

    def _relisted(
        self, kind: Kind, items: list[dict[str, Any]], observe: Callable[[str | None, Mapping[str, Any]], None]
    ) -> None:
        """A watch lost track (410): what the listing lacks was deleted meanwhile."""
        held = self.ctx.index.sealtokens if kind is Kind.SEALTOKEN else self.ctx.index.stakednodes
        listed = {str((body.get("metadata") or {}).get("name")) for body in items}
        for name in [n for n in held if n not in listed]:
            observe("DELETED", {"metadata": {"name": name, "uid": held[name].uid}})
        for body in items:
            observe("MODIFIED", body)

    def observe_node(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        name = str((body.get("metadata") or {}).get("name"))
        nodes = self.ctx.index.nodes
        existed = name in nodes
        if event_type == "DELETED":
            nodes.pop(name, None)
        else:
            nodes[name] = bool((body.get("spec") or {}).get("unschedulable"))
        if existed != (name in nodes):
            self.ctx.queue.mark(Key(Kind.STAKEDNODE, n) for n in self.ctx.index.stakednodes_for_node(name))

    # --- what the chain tells ----------------------------------------------------------------

    async def apply_events(self, events: Sequence[ChainEvent]) -> None:
        ctx, keys = self.ctx, set[Key]()
        for event in events:
            ctx.metrics.chain_events.labels(event=event.name).inc()
            fields = event.fields
            if event.name in ("SealTokenIssued", "SealTokenRevoked"):
                token_id = str(fields.get("token_id"))
                # An event the cached read already reflects (a replay, history after a cold start) needs no work.
                if ctx.view.token_changed(token_id, event.checkpoint):
                    keys.update(Key(Kind.SEALTOKEN, n) for n in ctx.index.sealtokens_naming(token_id))
                if event.name == "SealTokenIssued" and ctx.settings.create_from_events:
                    keys.update(await creation.sealtoken_from_event(ctx, fields))
            elif event.name in ("Staked", "UnstakeRequested", "Withdrawn", "Slashed"):
                record_id = str(fields.get("record_id"))
                if event.name == "Slashed":
                    ctx.view.slash_reasons[record_id] = str(fields.get("reason", ""))
                if ctx.view.stake_changed(record_id, event.checkpoint):
                    for token_id in ctx.view.tokens_of_stake(record_id):
                        keys.update(Key(Kind.SEALTOKEN, n) for n in ctx.index.sealtokens_naming(token_id))
                    keys.update(Key(Kind.STAKEDNODE, n) for n in ctx.index.stakednodes_for_record(record_id))
                if event.name == "Staked" and ctx.settings.create_from_events:
                    keys.update(await creation.stakednode_from_event(ctx, fields))
        if keys:
            await ctx.queue.wait_processed(ctx.queue.mark(keys))
            failed = keys & self.chain_failures
            if failed:
                # The follower applies the page again and keeps its cursor before it (they are also
                # retried on their own timers meanwhile).
                raise ChainTransientError(f"chain reads failed for {len(failed)} object(s) these events name")

    # --- running -----------------------------------------------------------------------------

    async def load(self) -> None:
        """List what exists (the watches started from these listings keep it current) and queue all of it."""
        ctx = self.ctx
        tokens = await list_collection(ctx.kube, custom_path(names.SEALTOKENS))
        for body in tokens.items:
            ctx.index.upsert_sealtoken(body)
        nodes = await list_collection(ctx.kube, custom_path(names.STAKEDNODES))
        for body in nodes.items:
            ctx.index.upsert_stakednode(body)
        self._versions = {Kind.SEALTOKEN: tokens.resource_version, Kind.STAKEDNODE: nodes.resource_version}
        del tokens, nodes  # the index holds the parsed objects; the bodies are garbage now
        async for body in ctx.kube.list(core_path("nodes")):
            ctx.index.nodes[body["metadata"]["name"]] = bool((body.get("spec") or {}).get("unschedulable"))
        orphans = await self._load_rbac()
        keys = ctx.index.keys() + orphans
        # Nothing to load: no batch will run, and nothing need be waited for.
        self._cold_batch = ctx.queue.mark(keys, force=True) if keys else 0
        log.info(
            "loaded %d SealTokens, %d StakedNodes, %d Nodes",
            len(ctx.index.sealtokens),
            len(ctx.index.stakednodes),
            len(ctx.index.nodes),
        )

    async def _load_rbac(self) -> list[Key]:
        """Load the RBAC index; returns the SealTokens that hold a binding but no longer exist."""
        holders = await rbac_sync.load(self.ctx)
        return [Key(Kind.SEALTOKEN, n) for n in sorted(holders) if n not in self.ctx.index.sealtokens]

    async def run(self) -> None:
        await _retrying("list the cluster's objects", self.load)
        self.started.set()
        kube = self.ctx.kube
        sealtokens = CollectionWatch(
            kube, custom_path(names.SEALTOKENS), self.observe_sealtoken, self.relisted_sealtokens
        )
        stakednodes = CollectionWatch(
            kube, custom_path(names.STAKEDNODES), self.observe_stakednode, self.relisted_stakednodes
        )
        jobs: list[Awaitable[None]] = [
            sealtokens.run(self._versions[Kind.SEALTOKEN]),
            stakednodes.run(self._versions[Kind.STAKEDNODE]),
            self._work(),
            self._follow(),
            self.ctx.recorder.run(),
            self._every(self.ctx.settings.verify_interval_s, self._verify),
            self._every(self.ctx.settings.resync_interval_s, self._resync),
            self._every(_METRICS_PERIOD_S, self._publish_metrics),
        ]
        if self.heartbeat is not None:
            jobs.append(self._every(self.ctx.settings.heartbeat_interval_s, self._heartbeat))
        await asyncio.gather(*jobs)

    async def _follow(self) -> None:
        # Events start being applied once the cold start has read everything: applying them
        # earlier would only mark objects stale that the cold start is about to read anyway.
        await self.ctx.queue.wait_processed(self._cold_batch)
        await self.follower.run()

    async def _every(self, period_s: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                await action()
            except (KubeError, ChainError) as error:
                log.warning("periodic %s failed: %s", getattr(action, "__name__", "task"), error)

    async def _verify(self) -> None:
        """Re-check Active objects. While the event stream is read, cached chain state is current
        (every change of a stake or token emits an event), so this costs no chain query; when
        the stream has not been read for a while, the objects are re-read from the chain."""
        index = self.ctx.index
        if self.ctx.queue.busy and self._verify_deferred < _MAX_DEFERRALS:
            # Still working through a cold start or a resync, which verify everything anyway.
            self._verify_deferred += 1
            return
        self._verify_deferred = 0
        trusted = self.follower.healthy(within_s=self.ctx.settings.verify_interval_s)
        keys = [Key(Kind.SEALTOKEN, n) for n, t in index.sealtokens.items() if t.phase in _LIVE_TOKEN_PHASES]
        keys += [Key(Kind.STAKEDNODE, n) for n, s in index.stakednodes.items() if s.phase in _LIVE_NODE_PHASES]
        self.ctx.queue.mark(keys, force=not trusted)

    async def _resync(self) -> None:
        retention.forget_retired(self.ctx)
        orphans = await self._load_rbac()
        self.ctx.queue.mark(self.ctx.index.keys() + orphans, force=True)

    def confirmed(self) -> tuple[float, int | None] | None:
        """When chain state was last confirmed to be in the cluster (and at which checkpoint); None
        while some object waits on a failed chain read, whatever the event stream says."""
        follower = self.follower
        if follower.confirmed_at <= 0 or self.chain_failures:
            return None
        return follower.confirmed_at, follower.confirmed_checkpoint

    async def _heartbeat(self) -> None:
        confirmed = self.confirmed()
        if confirmed is not None and self.heartbeat is not None:
            await self.heartbeat.publish(*confirmed)
            self.ctx.metrics.chain_confirmed.set(confirmed[0])

    async def _publish_metrics(self) -> None:
        ctx = self.ctx
        ctx.metrics.set_phase_counts(ctx.index.phase_counts())
        draining = sum(1 for s in ctx.index.stakednodes.values() if s.phase == NodePhase.DRAINING)
        ctx.metrics.drains_in_progress.set(draining)
        ctx.metrics.set_events_dropped(ctx.recorder.dropped)
        lag = self.follower.lag_seconds()
        if lag is not None:
            ctx.metrics.chain_lag_seconds.set(lag)

    async def _work(self) -> None:
        queue = self.ctx.queue
        while True:
            batch = await queue.take()
            try:
                await self._process(batch)
            finally:
                await queue.batch_done()

    async def _process(self, batch: dict[Key, bool]) -> None:
        keys = sorted(batch)
        pending: list[asyncio.Task[None]] = []
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            try:
                await self._read_chain(chunk, batch)
            except ChainError as error:
                log.warning("chain read for %d objects failed: %s", len(chunk), error)
                self.chain_failures.update(chunk)
                for key in chunk:
                    self._retry_later(key)
                continue
            pending.extend(asyncio.create_task(self._reconcile(key)) for key in chunk)
        if pending:
            await asyncio.gather(*pending)

    async def _read_chain(self, chunk: Sequence[Key], force: Mapping[Key, bool]) -> None:
        ctx = self.ctx
        tokens = {
            ctx.index.sealtokens[k.name].token_object: force[k]
            for k in chunk
            if k.kind is Kind.SEALTOKEN and k.name in ctx.index.sealtokens
        }
        await ctx.view.refresh_tokens(t for t, forced in tokens.items() if ctx.view.needs_token(t, forced))
        stakes: dict[str, bool] = {}
        for token_id, forced in tokens.items():
            token = ctx.view.token(token_id)
            if token is not None:
                stakes[token.stake_record] = stakes.get(token.stake_record, False) or forced
        for key in chunk:
            node = ctx.index.stakednodes.get(key.name) if key.kind is Kind.STAKEDNODE else None
            if node is not None:
                stakes[node.stake_record] = stakes.get(node.stake_record, False) or force[key]
        await ctx.view.refresh_stakes(s for s, forced in stakes.items() if ctx.view.needs_stake(s, forced))

    async def _reconcile(self, key: Key) -> None:
        ctx = self.ctx
        started = time.perf_counter()
        result = "ok"
        try:
            if key.kind is Kind.SEALTOKEN:
                token = ctx.index.sealtokens.get(key.name)
                if token is not None:
                    await reconcile_sealtoken(ctx, token)
                else:
                    await rbac_sync.revoke(ctx, key.name)  # deleted: release its binding and role
            else:
                node = ctx.index.stakednodes.get(key.name)
                if node is not None:
                    await reconcile_stakednode(ctx, node)
            self._failures.pop(key, None)
            self.chain_failures.discard(key)
        except (KubeError, ChainError) as error:
            result = "error"
            if isinstance(error, ChainError):
                self.chain_failures.add(key)
            else:
                self.chain_failures.discard(key)  # its chain state was read; the API server failed
            log.warning("reconciling %s %s failed: %s", key.kind, key.name, error)
            self._retry_later(key)
        except Exception:
            result = "error"
            log.exception("reconciling %s %s failed unexpectedly", key.kind, key.name)
            self._retry_later(key)
        finally:
            ctx.metrics.reconcile_seconds.labels(kind=key.kind, result=result).observe(time.perf_counter() - started)

    def _retry_later(self, key: Key) -> None:
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        self.ctx.queue.later(key, min(_RETRY_CAP_S, 0.5 * 2**failures), force=True)


# Revoked, Expired, Slashed, Unstaking and too-small stakes never come back (amounts only go
# down, revocation and unstaking are final): only live objects need the timer.
_LIVE_TOKEN_PHASES: Final = frozenset({SealTokenPhase.ACTIVE, SealTokenPhase.PENDING})
_LIVE_NODE_PHASES: Final = frozenset({NodePhase.ACTIVE, NodePhase.PENDING, NodePhase.DRAINING})


async def _retrying(what: str, action: Callable[[], Awaitable[None]]) -> None:
    delay = 0.5
    while True:
        try:
            await action()
            return
        except KubeError as error:
            hint = " (are the CRDs installed? kubectl apply -f crds/)" if isinstance(error, NotFound) else ""
            log.warning("could not %s%s: %s; retrying in %.1f s", what, hint, error, delay)
            await asyncio.sleep(delay)
            delay = min(_RETRY_CAP_S, delay * 2)
