"""Reconcile one StakedNode: verify its stake; keep a bootstrap token while it is Active and not
joined; cordon, drain and remove its Node once the stake stops qualifying.

Crash safety without reading Secrets: the name (and expiry) of a new bootstrap token is written to
status (with the rest of the status, in one write) *before* the Secret is created, and creating it
again answers 409. So a restart at any point finds the token named in status and at most
re-creates that one; it never mints a second.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from k3s_daas.stake import format_sui
from k3s_daas_operator import bootstrap_token, drainer, names
from k3s_daas_operator.context import Context
from k3s_daas_operator.index import Key, Kind
from k3s_daas_operator.kube import Conflict, core_path, custom_path
from k3s_daas_operator.recorder import InvolvedObject
from k3s_daas_operator.resources import NodePhase, StakedNodeResource
from k3s_daas_operator.stakednode_policy import (
    DrainNext,
    NodeVerdict,
    TokenAction,
    drain_next,
    judge_stake,
    renew_at,
    token_action,
)
from k3s_daas_operator.status import merge_patch, needs_write, parse_time, ready_condition, rfc3339

log = logging.getLogger(__name__)


async def reconcile_stakednode(ctx: Context, resource: StakedNodeResource) -> None:
    record = ctx.view.stake(resource.stake_record)
    entry = None if record is not None else await ctx.view.entry_of_missing_record(resource.stake_record)
    verdict = judge_stake(resource, record, entry, ctx.view.slash_reasons.get(resource.stake_record))
    if verdict.phase is NodePhase.SLASHED and resource.stake_record not in ctx.view.slash_reasons:
        # Restarted after the Slashed event was applied: the reason is only in the event.
        reason = await ctx.view.slash_reason(resource.stake_record)
        verdict = judge_stake(resource, record, entry, reason)
    status = dict(resource.status)
    joined = resource.node_name in ctx.index.nodes
    if verdict.qualifies:
        status = await _plan_token(ctx, resource, status, joined)
        phase, message = NodePhase.ACTIVE, verdict.message
    elif joined and not _replaced(ctx, resource):
        status, phase, message = await _drain(ctx, resource, status, verdict)
    else:
        status = await _drop_token(ctx, status)
        phase, message = verdict.phase, verdict.message
        if (status.get("drain") or {}).get("startedAt"):
            # A drain was under way and the Node is gone: removed by this drain before a restart cut it
            # short of writing so. Say it as an uninterrupted drain does.
            message = f"{verdict.message}; node {resource.node_name} removed"
            status = {**status, "joined": False}
    # One status write, which names a new token before it exists (see the module docstring) ...
    await _write_status(ctx, resource, status, verdict, phase, message)
    # ... then the token itself.
    secret, expires = status.get("bootstrapTokenSecret"), parse_time(status.get("bootstrapTokenExpiresAt"))
    if verdict.qualifies and isinstance(secret, str) and expires is not None and secret not in ctx.known_secrets:
        await _create_secret(ctx, resource, secret, expires)


def _replaced(ctx: Context, resource: StakedNodeResource) -> bool:
    """The same owner staked again for the same node and that stake is Active: leave the Node be.

    Only the same owner counts: a stranger's stake for the name must not keep a slashed node alive."""
    others = ctx.index.stakednodes_for_node(resource.node_name) - {resource.name}
    return any(
        (other := ctx.index.stakednodes.get(name)) is not None
        and other.owner == resource.owner
        and other.phase == NodePhase.ACTIVE
        for name in others
    )


async def _plan_token(
    ctx: Context, resource: StakedNodeResource, status: dict[str, Any], joined: bool
) -> dict[str, Any]:
    """The token fields of status: kept, renewed (the old Secret deleted), or dropped once joined."""
    now, ttl = ctx.clock(), ctx.settings.bootstrap_token_ttl_s
    secret = status.get("bootstrapTokenSecret")
    expires = parse_time(status.get("bootstrapTokenExpiresAt"))
    action = token_action(secret, expires, True, joined, now, ttl)
    if action is TokenAction.DELETE:
        return {**await _drop_token(ctx, status), "joined": joined}
    if action is TokenAction.MINT:
        if secret:
            await _delete_secret(ctx, secret)
        secret = bootstrap_token.secret_name(bootstrap_token.new_token_id())
        expires = now + timedelta(seconds=ttl)
        status = {**status, "bootstrapTokenSecret": secret, "bootstrapTokenExpiresAt": rfc3339(expires)}
        ctx.recorder.normal(
            _about(resource), "BootstrapTokenIssued", f"join token {secret} valid until {rfc3339(expires)}"
        )
    if expires is not None:
        ctx.queue.later(Key(Kind.STAKEDNODE, resource.name), (renew_at(expires, ttl) - now).total_seconds() + 0.01)
    return {**status, "joined": joined}


async def _create_secret(ctx: Context, resource: StakedNodeResource, secret: str, expires: datetime) -> None:
    token_id = bootstrap_token.token_id_of(secret)
    body = bootstrap_token.bootstrap_secret(
        token_id, bootstrap_token.new_token_secret(), expires, resource.name, resource.uid, resource.node_name
    )
    # Conflict: created before a restart; it is the one status names.
    with contextlib.suppress(Conflict):
        await ctx.kube.create(core_path("secrets", namespace=names.BOOTSTRAP_NAMESPACE), body)
    ctx.known_secrets.add(secret)


async def _delete_secret(ctx: Context, secret: str) -> None:
    await ctx.kube.delete(core_path("secrets", secret, names.BOOTSTRAP_NAMESPACE))
    ctx.known_secrets.discard(secret)


async def _drop_token(ctx: Context, status: dict[str, Any]) -> dict[str, Any]:
    secret = status.get("bootstrapTokenSecret")
    if isinstance(secret, str):
        await _delete_secret(ctx, secret)
    return {**status, "bootstrapTokenSecret": None, "bootstrapTokenExpiresAt": None}


async def _drain(
    ctx: Context, resource: StakedNodeResource, status: dict[str, Any], verdict: NodeVerdict
) -> tuple[dict[str, Any], NodePhase, str]:
    now, node, about = ctx.clock(), resource.node_name, _about(resource)
    status = await _drop_token(ctx, status)  # no new joins, whatever happens next
    drain = dict(status.get("drain") or {})
    started = parse_time(drain.get("startedAt"))
    if started is None:
        started = now
        drain = {"startedAt": rfc3339(now), "evicted": 0}
        ctx.recorder.warning(about, "Draining", f"{verdict.message}: cordoning and draining node {node}")
    await drainer.cordon(ctx, node)
    round_ = await drainer.evict_round(ctx, node, about)
    drain.update(
        podsRemaining=round_.remaining,
        evicted=int(drain.get("evicted") or 0) + round_.evicted,
        blockedByDisruptionBudget=round_.blocked,
    )
    step = drain_next(round_.remaining, started, now, ctx.settings.drain_deadline_s)
    if step is DrainNext.CONTINUE:
        rounds = ctx.drain_backoff.get(node, 0) + 1 if round_.blocked else 0
        ctx.drain_backoff[node] = rounds
        delay = drainer.backoff_s(rounds)
        deadline = (started + timedelta(seconds=ctx.settings.drain_deadline_s) - now).total_seconds()
        ctx.queue.later(Key(Kind.STAKEDNODE, resource.name), min(delay, max(deadline, 0.0) + 0.01))
        message = f"{verdict.phase}: {verdict.message}; draining node {node}, {round_.remaining} pod(s) left"
        return {**status, "drain": drain}, NodePhase.DRAINING, message
    if step is DrainNext.TAINT_AND_REMOVE:
        await drainer.taint(ctx, node, str(verdict.phase))
        drain["taintedAt"] = rfc3339(now)
        ctx.recorder.warning(about, "Tainted", f"drain deadline passed with {round_.remaining} pod(s) left: NoExecute")
    await drainer.delete_node(ctx, node)
    ctx.drain_backoff.pop(node, None)
    ctx.recorder.warning(about, "NodeRemoved", f"node {node} deleted: {verdict.message}")
    return {**status, "drain": drain, "joined": False}, verdict.phase, f"{verdict.message}; node {node} removed"


async def _write_status(
    ctx: Context,
    resource: StakedNodeResource,
    status: dict[str, Any],
    verdict: NodeVerdict,
    phase: NodePhase,
    message: str,
) -> None:
    now = ctx.clock()
    stake = verdict.stake_mist
    status.update(
        phase=str(phase),
        message=message,
        stakeMist=None if stake is None else str(stake),
        stakeSui=None if stake is None else format_sui(stake),
        lastVerified=rfc3339(now),
        observedGeneration=resource.generation,
        chainCursor=_cursor(ctx, resource),
    )
    status["conditions"] = ready_condition(
        phase is NodePhase.ACTIVE, str(phase), message, resource.status, now, resource.generation
    )
    desired = {k: v for k, v in status.items() if v is not None}
    if needs_write(desired, resource.status, now, ctx.settings.resync_interval_s):
        await _patch_status(ctx, resource, merge_patch(desired, resource.status))
    if resource.phase != phase:
        log.info("StakedNode %s: %s -> %s (%s)", resource.name, resource.phase, phase, message)
        about = _about(resource)
        if phase is NodePhase.ACTIVE:
            ctx.recorder.normal(about, str(phase), message)
        else:
            ctx.recorder.warning(about, str(phase), message)


def _cursor(ctx: Context, resource: StakedNodeResource) -> str | None:
    record = ctx.view.stakes.get(resource.stake_record)
    return None if record is None else f"checkpoint:{record.checkpoint}"


async def _patch_status(ctx: Context, resource: StakedNodeResource, fields: dict[str, Any]) -> None:
    updated = await ctx.kube.merge_patch(custom_path(names.STAKEDNODES, resource.name, "status"), {"status": fields})
    ctx.index.upsert_stakednode(updated)


def _about(resource: StakedNodeResource) -> InvolvedObject:
    return InvolvedObject("StakedNode", resource.name, resource.uid)
