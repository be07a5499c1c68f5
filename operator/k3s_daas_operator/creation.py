"""SealTokens and StakedNodes created from chain events (``create_from_events``).

Names are derived from the on-chain ids, so a replayed event creates nothing new (409), and
they stay within 63 characters because they are used as label values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from k3s_daas.stake import Role
from k3s_daas_operator import names
from k3s_daas_operator.context import Context, epoch_ms
from k3s_daas_operator.index import Key, Kind
from k3s_daas_operator.kube import Conflict, custom_path

log = logging.getLogger(__name__)


def sealtoken_name(token_id: str) -> str:
    return f"seal-{token_id.removeprefix('0x')[:40]}"


def stakednode_name(node_name: str, record_id: str) -> str:
    return f"{node_name[:46]}-{record_id.removeprefix('0x')[:16]}"


async def sealtoken_from_event(ctx: Context, fields: Mapping[str, object]) -> list[Key]:
    token_id, owner = str(fields.get("token_id")), str(fields.get("owner"))
    if ctx.index.sealtokens_naming(token_id):
        return []
    expires = fields.get("expires_at_ms")
    if isinstance(expires, str) and expires.isdigit() and int(expires) <= epoch_ms(ctx.clock()):
        return []  # replaying history: an expired token needs no resource
    name = sealtoken_name(token_id)
    body = {
        "apiVersion": names.API_VERSION,
        "kind": "SealToken",
        "metadata": {"name": name, "labels": {names.LABEL_MANAGED_BY: names.MANAGER}},
        "spec": {"owner": owner, "tokenObject": token_id},
    }
    return await _create(ctx, names.SEALTOKENS, body, Key(Kind.SEALTOKEN, name))


async def stakednode_from_event(ctx: Context, fields: Mapping[str, object]) -> list[Key]:
    record_id, node_name = str(fields.get("record_id")), str(fields.get("node_name", ""))
    if fields.get("role") != int(Role.NODE) or not node_name or ctx.index.stakednodes_for_record(record_id):
        return []
    name = stakednode_name(node_name, record_id)
    body = {
        "apiVersion": names.API_VERSION,
        "kind": "StakedNode",
        "metadata": {"name": name, "labels": {names.LABEL_MANAGED_BY: names.MANAGER}},
        "spec": {"nodeName": node_name, "owner": str(fields.get("owner")), "stakeRecord": record_id},
    }
    return await _create(ctx, names.STAKEDNODES, body, Key(Kind.STAKEDNODE, name))


async def _create(ctx: Context, plural: str, body: Mapping[str, object], key: Key) -> list[Key]:
    try:
        created = await ctx.kube.create(custom_path(plural), body)
    except Conflict:
        return [key]  # created before (a replayed event)
    if key.kind is Kind.SEALTOKEN:
        ctx.index.upsert_sealtoken(created)
    else:
        ctx.index.upsert_stakednode(created)
    log.info("created %s %s from a chain event", key.kind, key.name)
    return [key]
