"""The stake gate for Seal users' writes: an Active Seal token at its role minimum *now*, and a
permission from it (``resource:verb``) that covers the request.

"Now" is the newest SealToken status the operator wrote (phase, stakeMist, role, expiresAt), as the
watch delivered it: a slash or revocation stops writes as soon as the operator has recorded it, even
while the API server still holds a cached TokenReview answer for the token.

Permissions are those the chain holds (``status.permissions``) that the role may hold
(``k3s_daas.grants``, the same policy the operator turns into RBAC), so admission and RBAC agree.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from k3s_daas.grants import grants_for
from k3s_daas.permissions import InvalidPermission, Permission, allowed
from k3s_daas.stake import Role, format_sui
from k3s_daas_webhook.admission_verdict import Rule, Verdict
from k3s_daas_webhook.admissionreview import AdmissionRequest
from k3s_daas_webhook.decision import EXTRA_SEAL_TOKEN, IdentityReason, problem
from k3s_daas_webhook.index import IdentitySnapshot, IndexEntry

_ADDRESS: Final = re.compile(r"0x[0-9a-f]{64}")
# When several tokens fail, report the one most worth acting on (as authentication does).
_REPORT_ORDER: Final = (
    IdentityReason.INSUFFICIENT_STAKE,
    IdentityReason.CHAIN_EXPIRED,
    IdentityReason.REVOKED,
    IdentityReason.TOKEN_PENDING,
    IdentityReason.ROLE_NOT_ALLOWED,
    IdentityReason.UNKNOWN_TOKEN,
)
# A proxied request's HTTP method is not in the review; RBAC checked the exact verb already.
_PROXY_VERBS: Final = ("get", "create", "update", "patch", "delete")
_MAX_LISTED: Final = 8


@dataclass(frozen=True, slots=True)
class SealWriter:
    """A Seal user with at least one usable token right now."""

    address: str
    usable: tuple[IndexEntry, ...]

    @property
    def admin(self) -> bool:
        return any(entry.role == Role.ADMIN.label for entry in self.usable)

    def granted(self) -> tuple[Permission, ...]:
        if len(self.usable) == 1:
            entry = self.usable[0]
            return _granted(entry.role or "", entry.permissions)
        return tuple({p for entry in self.usable for p in _granted(entry.role or "", entry.permissions)})


@functools.lru_cache(maxsize=4096)
def _granted(role: str, texts: tuple[str, ...]) -> tuple[Permission, ...]:
    """Parsed once per (role, permission list): tokens change rarely, requests often."""
    return grants_for(Role.from_label(role), texts).granted


def seal_writer(request: AdmissionRequest, tokens: IdentitySnapshot, now: float) -> SealWriter | Verdict:
    """The caller's usable tokens, or the stake denial that tells them what to fix."""
    username = request.user.username
    address = username.removeprefix("sui:")
    if _ADDRESS.fullmatch(address) is None:
        return Verdict.deny(Rule.IDENTITY, f"user {username[:80]!r} is not sui:<0x + 64 lowercase hex digits>")
    entries = tokens.entries_for(address)
    if not entries:
        return Verdict.deny(
            Rule.STAKE,
            f"no SealToken for {address}: writes need an Active Seal token (stake at least "
            f"{format_sui(Role.USER.minimum_mist)} SUI, issue a token on chain, then create a SealToken naming it)",
        )
    usable = tuple(entry for entry in entries if problem(entry, now) is None)
    if usable:
        return SealWriter(address, usable)
    return Verdict.deny(Rule.STAKE, _stake_message(_worst(request, entries, now), now))


def _worst(request: AdmissionRequest, entries: tuple[IndexEntry, ...], now: float) -> IndexEntry:
    """The token to talk about: the one the API token named (TokenReview put it in extra), else the
    failing token most worth acting on."""
    named = request.user.extra.get(EXTRA_SEAL_TOKEN, ())
    for entry in entries:
        if entry.token_object is not None and entry.token_object in named:
            return entry

    def rank(entry: IndexEntry) -> tuple[int, str]:
        found = problem(entry, now)
        return (_REPORT_ORDER.index(found[0]) if found else 0, entry.name)

    return min(entries, key=rank)


def _stake_message(entry: IndexEntry, now: float) -> str:
    found = problem(entry, now)
    reason = found[0] if found else IdentityReason.TOKEN_PENDING
    token = entry.token_object or f"of SealToken {entry.name}"
    if reason is IdentityReason.INSUFFICIENT_STAKE:
        return _below_minimum(entry)
    if reason is IdentityReason.REVOKED:
        return f"Seal token {token} was revoked on chain: issue a new token and create a SealToken for it"
    if reason is IdentityReason.CHAIN_EXPIRED:
        when = _iso(entry.expires_at) if entry.expires_at is not None else "its recorded expiry"
        return f"Seal token {token} expired on chain at {when}: issue a new token and create a SealToken for it"
    if reason is IdentityReason.ROLE_NOT_ALLOWED:
        return f"Seal token {token} is backed by a {entry.role} stake, which pays for a node, not for API writes"
    if reason is IdentityReason.UNKNOWN_TOKEN:
        return f"SealToken {entry.name} names no on-chain token owned by {entry.owner}"
    phase = entry.phase or "unset"
    return f"SealToken {entry.name} is not verified yet (phase {phase}): retry once the operator has verified it"


def _below_minimum(entry: IndexEntry) -> str:
    try:
        role = Role.from_label(entry.role or "")
    except ValueError:
        role = Role.USER
    record = f"stake record {entry.stake_record}" if entry.stake_record else f"the stake behind SealToken {entry.name}"
    if entry.stake_mist is None or entry.stake_mist >= role.minimum_mist:
        # The operator found the stake short (its message says why) but no amount below the minimum
        # was recorded; report its words.
        detail = entry.message or "stake below the role minimum"
        return f"{detail}; top up {record}"
    return (
        f"stake {format_sui(entry.stake_mist)} SUI is below the {format_sui(role.minimum_mist)} SUI required to "
        f"write; top up {record}"
    )


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verbs_for(request: AdmissionRequest) -> tuple[str, ...]:
    """The RBAC verb(s) a write maps to; any one of them granted is enough.

    UPDATE is ``patch`` when the options are PatchOptions (kubectl patch/apply), else ``update``; a
    CREATE through server-side apply is a ``patch`` too, as RBAC sees it. A DELETE cannot be told
    apart from one item of a deletecollection, so either verb covers it. CONNECT (exec, attach,
    port-forward) is ``create``, except proxies, whose HTTP method the review does not carry.
    """
    operation = request.operation
    if operation == "CREATE":
        return ("patch",) if request.options_kind == "PatchOptions" else ("create",)
    if operation == "UPDATE":
        return ("patch",) if request.options_kind == "PatchOptions" else ("update",)
    if operation == "DELETE":
        return ("delete", "deletecollection")
    if request.subresource == "proxy":
        return _PROXY_VERBS
    return ("create",)


def permission(request: AdmissionRequest, seal: SealWriter) -> Verdict:
    verbs = verbs_for(request)
    granted = seal.granted()
    for verb in verbs:
        if allowed(granted, request.group, request.resource, request.subresource, verb):
            return Verdict.allow(Rule.PERMISSION)
    target = request.resource + (f"/{request.subresource}" if request.subresource else "")
    target += f".{request.group}" if request.group else ""
    where = f' in namespace "{request.namespace}"' if request.namespace else ""
    usable, refused = _held(seal)
    detail = f"its tokens grant: {_listing(usable)}"
    if refused:
        detail += f"; held on chain but not granted (above the role, or not resource:verb): {_listing(refused)}"
    return Verdict.deny(
        Rule.PERMISSION,
        f"{request.user.username} may not {verbs[0]} {target}{where}: no Active Seal token grants "
        f'"{target}:{verbs[0]}" ({detail})',
    )


def _held(seal: SealWriter) -> tuple[list[str], list[str]]:
    """The permission strings of the caller's usable tokens: granted, and held but not granted."""
    granted: set[str] = set()
    refused: set[str] = set()
    for entry in seal.usable:
        given = _granted(entry.role or "", entry.permissions)
        for text in entry.permissions:
            (granted if _is_granted(text, given) else refused).add(text)
    return sorted(granted), sorted(refused - granted)


def _is_granted(text: str, given: tuple[Permission, ...]) -> bool:
    try:
        return Permission.parse(text) in given
    except InvalidPermission:
        return False


def _listing(texts: list[str]) -> str:
    if not texts:
        return "none"
    return ", ".join(texts[:_MAX_LISTED]) + (", ..." if len(texts) > _MAX_LISTED else "")
