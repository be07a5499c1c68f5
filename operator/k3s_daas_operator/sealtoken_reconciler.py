"""Reconcile one SealToken: chain state in (from the view), status and RBAC out."""

from __future__ import annotations

import logging

from k3s_daas_operator import names, rbac_sync
from k3s_daas_operator.context import Context, epoch_ms
from k3s_daas_operator.index import Key, Kind
from k3s_daas_operator.kube import custom_path
from k3s_daas_operator.recorder import InvolvedObject
from k3s_daas_operator.resources import SealTokenResource
from k3s_daas_operator.sealtoken_policy import decide_sealtoken
from k3s_daas_operator.status import merge_patch, needs_write, sealtoken_status

log = logging.getLogger(__name__)


async def reconcile_sealtoken(ctx: Context, resource: SealTokenResource) -> None:
    now = ctx.clock()
    token = ctx.view.token(resource.token_object)
    stake = None if token is None else ctx.view.stake(token.stake_record)
    verdict = decide_sealtoken(resource, token, stake, epoch_ms(now))
    # Grant before announcing Active; take away before announcing anything else.
    if verdict.active:
        await rbac_sync.grant(ctx, resource, verdict.grants)
    else:
        await rbac_sync.revoke(ctx, resource.name)
    checkpoint = ctx.view.checkpoint_of_token(resource.token_object)
    cursor = "" if checkpoint is None else f"checkpoint:{checkpoint}"
    desired = sealtoken_status(verdict, resource.status, now, resource.generation, cursor)
    if needs_write(desired, resource.status, now, ctx.settings.resync_interval_s):
        updated = await ctx.kube.merge_patch(
            custom_path(names.SEALTOKENS, resource.name, "status"), {"status": merge_patch(desired, resource.status)}
        )
        ctx.index.upsert_sealtoken(updated)
    if resource.phase != verdict.phase:
        about = InvolvedObject("SealToken", resource.name, resource.uid)
        log.info("SealToken %s: %s -> %s (%s)", resource.name, resource.phase, verdict.phase, verdict.message)
        if verdict.active:
            ctx.recorder.normal(about, str(verdict.phase), verdict.message)
        else:
            ctx.recorder.warning(about, str(verdict.phase), verdict.message)
    if verdict.active and verdict.expires_at_ms is not None:
        # Wake exactly at expiry, so the phase flips without waiting for the verify timer.
        ctx.queue.later(Key(Kind.SEALTOKEN, resource.name), (verdict.expires_at_ms - epoch_ms(now)) / 1000 + 0.01)
