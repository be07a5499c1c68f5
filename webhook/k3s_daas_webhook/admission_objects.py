"""Admission rules about *what* is written: the project's namespace, owned namespaces, this
project's own resources (SealToken, StakedNode) and Nodes.

Each rule returns a denial, an explicit allow that ends the decision, or None ("not mine: the next
rule decides"). ``seal`` is the caller's usable Seal tokens (None when the caller is not a Seal user);
``admin`` is whether the caller counts as an admin right now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from k3s_daas_webhook.admission_stake import SealWriter
from k3s_daas_webhook.admission_state import AdmissionPolicy, AdmissionState
from k3s_daas_webhook.admission_verdict import Rule, Verdict
from k3s_daas_webhook.admissionreview import AdmissionRequest
from k3s_daas_webhook.namespaces import OWNER_ANNOTATION, owner_annotation
from k3s_daas_webhook.stakednodes import NodeSnapshot

OWN_GROUP: Final = "k3s-daas.io"
_SEALTOKEN_SPEC: Final = frozenset({"owner", "tokenObject"})


def target_namespace(request: AdmissionRequest) -> str:
    """The namespace a write lands in; a Namespace object is its own."""
    if request.group == "" and request.resource == "namespaces":
        return request.name or _name(request.object) or request.namespace
    return request.namespace


def _name(resource: Mapping[str, Any] | None) -> str:
    metadata = (resource or {}).get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else ""


def project_namespace(
    request: AdmissionRequest, state: AdmissionState, policy: AdmissionPolicy, seal: SealWriter | None, admin: bool
) -> Verdict | None:
    """The project's namespace holds the webhook and the operator: admins only.

    RBAC from a user token is cluster-wide (a ClusterRole), so ``deployments.apps:write`` bought
    with 0.5 SUI would otherwise reach the webhook's own Deployment.
    """
    if admin or target_namespace(request) != policy.project_namespace:
        return None
    return Verdict.deny(
        Rule.PROJECT_NAMESPACE,
        f'namespace "{policy.project_namespace}" runs this cluster\'s admission webhook and operator: only '
        "admins write there (a Seal token backed by an admin stake of 10 SUI)",
    )


def namespace_owner(
    request: AdmissionRequest, state: AdmissionState, policy: AdmissionPolicy, seal: SealWriter | None, admin: bool
) -> Verdict | None:
    """A namespace annotated ``k3s-daas.io/owner: <address>`` is written by that address and admins."""
    if admin:
        return None
    namespace = target_namespace(request)
    if not namespace:
        return None
    is_namespace = request.group == "" and request.resource == "namespaces"
    # For the Namespace itself the old object is the truth at this moment; for what is inside it, the
    # watched annotation.
    owner = owner_annotation(request.old_object) if is_namespace else state.namespaces.owner_of(namespace)
    caller = seal.address if seal is not None else None
    if owner is not None and owner != caller:
        return Verdict.deny(
            Rule.NAMESPACE_OWNER,
            f'namespace "{namespace}" belongs to {owner[:80]}: only its owner and admins write there',
        )
    if is_namespace and request.operation in ("CREATE", "UPDATE"):
        claimed = owner_annotation(request.object)
        if claimed is not None and claimed != owner and claimed != caller:
            whose = f"your own address ({caller})" if caller else "a Seal user's own address"
            return Verdict.deny(
                Rule.NAMESPACE_OWNER,
                f"a namespace can be claimed ({OWNER_ANNOTATION}) only for {whose}, not {claimed[:80]}",
            )
    return None


def k3s_daas_objects(
    request: AdmissionRequest, state: AdmissionState, policy: AdmissionPolicy, seal: SealWriter | None, admin: bool
) -> Verdict | None:
    if request.group != OWN_GROUP:
        return None
    if request.resource == "sealtokens":
        return _sealtoken(request, policy, seal, admin)
    if request.resource == "stakednodes":
        if request.subresource == "status":
            return Verdict.deny(
                Rule.STAKEDNODE,
                f"StakedNode status mirrors the chain: only the operator ({policy.operator_username}) writes it",
            )
        if admin:
            return None
        return Verdict.deny(
            Rule.STAKEDNODE, "StakedNodes mirror on-chain node stakes: only the operator and admins write them"
        )
    return None


def _sealtoken(
    request: AdmissionRequest, policy: AdmissionPolicy, seal: SealWriter | None, admin: bool
) -> Verdict | None:
    if request.subresource == "status":
        return Verdict.deny(
            Rule.SEALTOKEN,
            f"SealToken status mirrors the chain: only the operator ({policy.operator_username}) writes it",
        )
    spec = (request.object or {}).get("spec")
    if isinstance(spec, Mapping) and not set(spec) <= _SEALTOKEN_SPEC:
        # The schema prunes unknown fields already; said here too, because this is the one claim a
        # user could try: permissions come from the chain (the operator's status), never the spec.
        return Verdict.deny(
            Rule.SEALTOKEN,
            "a SealToken only names its on-chain token (spec.owner, spec.tokenObject): its permissions are "
            "the ones the chain holds, recorded by the operator",
        )
    if admin:
        return None
    if seal is None:
        return Verdict.deny(
            Rule.SEALTOKEN, "SealTokens are written by their owners (sui:<owner>), the operator and admins"
        )
    for document in (request.object, request.old_object):
        owner = _spec_owner(document)
        if owner is not None and owner != seal.address:
            return Verdict.deny(
                Rule.SEALTOKEN,
                f"{seal.address} may only write SealTokens for its own address, not for {owner[:80]}",
            )
    return Verdict.allow(Rule.SELF_SERVICE)


def _spec_owner(document: Mapping[str, Any] | None) -> str | None:
    spec = (document or {}).get("spec")
    owner = spec.get("owner") if isinstance(spec, Mapping) else None
    return str(owner) if owner is not None else None


def node_guard(request: AdmissionRequest, nodes: NodeSnapshot, policy: AdmissionPolicy) -> Verdict:
    """A node identity may create or update its Node only while a StakedNode for it is Active, so a
    slashed or unstaked node that the operator removed cannot register again."""
    if (request.group, request.resource) != ("", "nodes"):
        return Verdict.allow(Rule.NOT_COVERED)  # NodeRestriction and RBAC govern the rest of a node's writes
    if request.operation not in ("CREATE", "UPDATE"):
        return Verdict.allow(Rule.NODE)
    name = request.name or _name(request.object)
    if name in policy.static_nodes or nodes.is_active(name):
        return Verdict.allow(Rule.NODE)
    action = "register" if request.operation == "CREATE" else "update its Node"
    records = nodes.records_for(name)
    if not records:
        why = f"no StakedNode pays for it: stake at least 1 SUI for node name {name!r} first"
    else:
        phases = ", ".join(sorted({record.phase or "Pending" for record in records}))
        why = (
            f"its StakedNode is {phases}, not Active: a slashed or unstaked node is refused until a new stake "
            "for it is Active"
        )
    return Verdict.deny(Rule.NODE, f"node {name[:63]!r} may not {action}: {why}")
