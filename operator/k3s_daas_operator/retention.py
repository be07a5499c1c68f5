"""Forgetting what the operator kept about objects that no longer exist.

The reconcilers keep chain reads, deletion marks and drain/Secret bookkeeping per object. Deleted
SealTokens and StakedNodes would leave all of it behind, so memory would follow every object the cluster
ever held; the engine calls ``forget_retired`` on each full resync, so it follows the objects that exist.
"""

from __future__ import annotations

from k3s_daas_operator.context import Context


def forget_retired(ctx: Context) -> None:
    index, view = ctx.index, ctx.view
    tokens = {t.token_object for t in index.sealtokens.values()}
    records = {n.stake_record for n in index.stakednodes.values()}
    records.update(read.stake_record for t in tokens if (read := view.token(t)) is not None)
    view.retain(tokens, records)
    index.forget_deletions()
    nodes = {n.node_name for n in index.stakednodes.values()}
    for node in [n for n in ctx.drain_backoff if n not in nodes]:
        del ctx.drain_backoff[node]
    # A Secret this process created is named by its StakedNode's status (written before the Secret);
    # one forgotten too early costs a create answered 409, nothing more.
    named = {n.status.get("bootstrapTokenSecret") for n in index.stakednodes.values()}
    ctx.known_secrets &= {s for s in named if isinstance(s, str)}
