"""The admission decision: a pure function of (request, watched state, policy, now).

Who is asking decides which rules apply (docs/admission.md has the table):

* ``system:masters`` (the client-certificate admin, the break-glass path) and the operator's
  ServiceAccount: allowed. The API server never sends them here (matchConditions); this is the same
  answer for a configuration that does.
* Node identities (``system:node:*``, ``system:nodes``, ``system:bootstrappers``): the Node guard.
* Seal users (``sui:<address>``): chain freshness first (past the maximum staleness every
  stake-gated write is refused: ``admission_chain``), then the stake gate (an Active token at its
  role minimum *now*), then the namespace, object and permission rules.
* Anyone else: the namespace and object rules; what no rule covers is RBAC's business.

The first denial decides, so the message names the one thing to fix. Reviews (TokenReview,
SubjectAccessReview, SelfSubjectReview ...) are queries dressed as creates: always allowed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from k3s_daas_webhook.admission_chain import chain_unreachable
from k3s_daas_webhook.admission_objects import (
    k3s_daas_objects,
    namespace_owner,
    node_guard,
    project_namespace,
)
from k3s_daas_webhook.admission_stake import SealWriter, permission, seal_writer
from k3s_daas_webhook.admission_state import MASTERS_GROUP, SEAL_ADMIN_GROUP, AdmissionPolicy, AdmissionState
from k3s_daas_webhook.admission_verdict import Rule, Verdict
from k3s_daas_webhook.admissionreview import AdmissionRequest, UserInfo

__all__ = ["Identity", "Rule", "Verdict", "classify", "decide"]

KNOWN_OPERATIONS: Final = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
REVIEW_GROUPS: Final = frozenset({"authentication.k8s.io", "authorization.k8s.io"})
NODE_USER_PREFIX: Final = "system:node:"
NODE_GROUPS: Final = frozenset({"system:nodes", "system:bootstrappers"})
SEAL_USER_PREFIX: Final = "sui:"


class Identity(enum.Enum):
    BREAK_GLASS = "break_glass"
    OPERATOR = "operator"
    NODE = "node"
    SEAL_USER = "seal_user"
    OTHER = "other"


def classify(user: UserInfo, policy: AdmissionPolicy) -> Identity:
    if MASTERS_GROUP in user.groups:
        return Identity.BREAK_GLASS
    if user.username == policy.operator_username:
        return Identity.OPERATOR
    if user.username.startswith(NODE_USER_PREFIX) or not NODE_GROUPS.isdisjoint(user.groups):
        return Identity.NODE
    if user.username.startswith(SEAL_USER_PREFIX):
        return Identity.SEAL_USER
    return Identity.OTHER


@dataclass(frozen=True, slots=True)
class _Caller:
    seal: SealWriter | None
    admin: bool


def decide(request: AdmissionRequest, state: AdmissionState, policy: AdmissionPolicy, now: float) -> Verdict:
    identity = classify(request.user, policy)
    if identity is Identity.BREAK_GLASS:
        return Verdict.allow(Rule.EXEMPT)
    if identity is Identity.OPERATOR:
        return Verdict.allow(Rule.OPERATOR)
    if request.operation not in KNOWN_OPERATIONS:
        # The configuration only sends the four operations above; anything else is a newer API
        # server or a hand-made review, and an unknown write is refused rather than guessed at.
        return Verdict.deny(
            Rule.UNKNOWN_OPERATION,
            f"operation {request.operation[:32]!r} is not one this webhook knows (CREATE, UPDATE, DELETE, "
            "CONNECT): refused by default",
        )
    if request.group in REVIEW_GROUPS:
        return Verdict.allow(Rule.REVIEW)
    if identity is Identity.NODE:
        return node_guard(request, state.nodes, policy)
    if identity is Identity.SEAL_USER:
        stale = chain_unreachable(state.chain, policy.max_chain_staleness_s, now)
        if stale is not None:
            return stale
    caller = _caller(request, state, now, identity)
    if isinstance(caller, Verdict):
        return caller
    for rule in (project_namespace, namespace_owner, k3s_daas_objects):
        verdict = rule(request, state, policy, caller.seal, caller.admin)
        if verdict is not None and (not verdict.allowed or verdict.rule is Rule.SELF_SERVICE):
            return verdict
    if caller.seal is not None:
        return permission(request, caller.seal)
    return Verdict.allow(Rule.NOT_COVERED)


def _caller(request: AdmissionRequest, state: AdmissionState, now: float, identity: Identity) -> _Caller | Verdict:
    if identity is Identity.SEAL_USER:
        seal = seal_writer(request, state.tokens, now)
        if isinstance(seal, Verdict):
            return seal
        # A Seal user's admin rights come from the state now (an admin token at 10 SUI), never from
        # the group its TokenReview answer carried, which the API server caches.
        return _Caller(seal, seal.admin)
    # Not a Seal user: the group can only come from another authenticator or impersonation, both
    # configured by a cluster admin.
    return _Caller(None, SEAL_ADMIN_GROUP in request.user.groups)
