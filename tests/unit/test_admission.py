"""The admission rules, as pure functions of (request, state, policy, now)."""

from __future__ import annotations

import dataclasses

import pytest

from k3s_daas_webhook.admission import Identity, Rule, classify, decide
from k3s_daas_webhook.admission_stake import verbs_for
from k3s_daas_webhook.admission_state import AdmissionPolicy, AdmissionState
from k3s_daas_webhook.admissionreview import AdmissionRequest, UserInfo
from k3s_daas_webhook.index import IdentitySnapshot, IndexEntry
from k3s_daas_webhook.join import NodeRecord
from k3s_daas_webhook.namespaces import NamespaceOwners
from k3s_daas_webhook.stakednodes import NodeSnapshot

NOW = 1_800_000_000.0
ALICE, BOB, CAROL = "0x" + "a1" * 32, "0x" + "b0" * 32, "0x" + "c3" * 32
RECORD = "0x" + "5e" * 32
POLICY = AdmissionPolicy(static_nodes=frozenset({"server-0"}))
OPERATOR = POLICY.operator_username
SEAL_GROUPS = frozenset({"k3s-daas:stakers", "k3s-daas:role:user", "system:authenticated"})


def token(name: str, owner: str, *permissions: str, **changes: object) -> IndexEntry:
    entry = IndexEntry(
        name=name,
        owner=owner,
        token_object="0x" + format(abs(hash(name)), "x").rjust(64, "0")[-64:],
        phase="Active",
        role="user",
        stake_mist=600_000_000,
        expires_at=NOW + 3600,
        permissions=permissions,
        stake_record=RECORD,
    )
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


def state(*entries: IndexEntry, nodes: tuple[NodeRecord, ...] = (), owners: dict[str, str] | None = None):
    return AdmissionState(IdentitySnapshot.build(entries), NodeSnapshot.build(nodes), NamespaceOwners(owners or {}))


def request(
    user: str = f"sui:{ALICE}",
    operation: str = "CREATE",
    resource: str = "configmaps",
    *,
    group: str = "",
    subresource: str = "",
    namespace: str = "default",
    name: str = "x",
    groups: frozenset[str] = SEAL_GROUPS,
    options_kind: str = "",
    obj: dict | None = None,
    old: dict | None = None,
    extra: dict | None = None,
) -> AdmissionRequest:
    return AdmissionRequest(
        uid="u-1",
        operation=operation,
        group=group,
        resource=resource,
        subresource=subresource,
        name=name,
        namespace=namespace,
        user=UserInfo(user, groups, extra or {}),
        options_kind=options_kind,
        object=obj,
        old_object=old,
    )


def verdict(req: AdmissionRequest, st: AdmissionState | None = None):
    return decide(req, st if st is not None else state(), POLICY, NOW)


# ---- who is asking -----------------------------------------------------------------------------


def test_identities_are_classified_by_group_then_name():
    assert classify(UserInfo("k3s-daas-admin", frozenset({"system:masters"})), POLICY) is Identity.BREAK_GLASS
    assert classify(UserInfo(f"sui:{ALICE}", frozenset({"system:masters"})), POLICY) is Identity.BREAK_GLASS
    assert classify(UserInfo(OPERATOR), POLICY) is Identity.OPERATOR
    assert classify(UserInfo("system:node:w1", frozenset({"system:nodes"})), POLICY) is Identity.NODE
    assert classify(UserInfo("system:bootstrap:abc123", frozenset({"system:bootstrappers"})), POLICY) is Identity.NODE
    assert classify(UserInfo(f"sui:{ALICE}"), POLICY) is Identity.SEAL_USER
    assert classify(UserInfo("system:serviceaccount:default:app"), POLICY) is Identity.OTHER


def test_break_glass_and_operator_are_always_allowed():
    for user, groups in (("k3s-daas-admin", frozenset({"system:masters"})), (OPERATOR, frozenset())):
        result = verdict(
            request(user, "UPDATE", "sealtokens", group="k3s-daas.io", subresource="status", groups=groups)
        )
        assert result.allowed, result


def test_unknown_operation_is_refused_by_default():
    result = verdict(request(operation="FROB"), state(token("t", ALICE, "*:*", role="admin", stake_mist=10**10)))
    assert not result.allowed and result.rule is Rule.UNKNOWN_OPERATION and "FROB" in result.message


def test_reviews_are_queries_and_always_allowed():
    result = verdict(request(resource="selfsubjectaccessreviews", group="authorization.k8s.io", namespace=""))
    assert result.allowed and result.rule is Rule.REVIEW


# ---- the stake gate -----------------------------------------------------------------------------


def test_write_in_scope_is_allowed_and_outside_it_names_the_missing_permission():
    st = state(token("t", ALICE, "configmaps:write", "pods:read"))
    assert verdict(request(), st).rule is Rule.PERMISSION and verdict(request(), st).allowed
    denied = verdict(request(resource="deployments", group="apps"), st)
    assert not denied.allowed and denied.rule is Rule.PERMISSION
    assert denied.message == (
        f'sui:{ALICE} may not create deployments.apps in namespace "default": no Active Seal token grants '
        '"deployments.apps:create" (its tokens grant: configmaps:write, pods:read)'
    )


@pytest.mark.parametrize("phase", ["Active", "InsufficientStake"])
def test_stake_below_the_minimum_says_how_much_and_which_record(phase):
    st = state(token("t", ALICE, "configmaps:write", phase=phase, stake_mist=300_000_000))
    result = verdict(request(), st)
    assert not result.allowed and result.rule is Rule.STAKE
    assert result.message == f"stake 0.3 SUI is below the 0.5 SUI required to write; top up stake record {RECORD}"


def test_admin_minimum_is_ten_sui():
    st = state(token("t", ALICE, "*:*", role="admin", stake_mist=9_500_000_000))
    assert verdict(request(), st).message.startswith("stake 9.5 SUI is below the 10 SUI required to write")
    assert verdict(request(), state(token("t", ALICE, "*:*", role="admin", stake_mist=10**10))).allowed


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"phase": "Revoked"}, "was revoked on chain"),
        ({"phase": "Expired"}, "expired on chain"),
        ({"expires_at": NOW - 1}, "expired on chain at 2027-01-15T07:59:59Z"),
        ({"phase": "Pending"}, "not verified yet (phase Pending)"),
        ({"phase": None}, "not verified yet (phase unset)"),
        ({"phase": "NotFound"}, "names no on-chain token owned by"),
        ({"role": "node"}, "backed by a node stake"),
    ],
)
def test_unusable_tokens_are_refused_with_the_reason(changes, fragment):
    result = verdict(request(), state(token("t", ALICE, "configmaps:write", **changes)))
    assert not result.allowed and result.rule is Rule.STAKE and fragment in result.message, result.message


def test_no_token_and_a_malformed_username():
    assert "no SealToken for" in verdict(request()).message
    result = verdict(request(user="sui:0xABC"))
    assert not result.allowed and result.rule is Rule.IDENTITY


def test_the_token_named_by_the_api_token_is_the_one_reported():
    revoked = token("r", ALICE, "configmaps:write", phase="Revoked")
    short = token("s", ALICE, "configmaps:write", stake_mist=1)
    named = request(extra={"k3s-daas.io/seal-token": [revoked.token_object]})
    assert "revoked" in verdict(named, state(revoked, short)).message
    assert "below the 0.5 SUI" in verdict(request(), state(revoked, short)).message


def test_permissions_of_all_usable_tokens_count_and_unusable_ones_never_do():
    st = state(
        token("a", ALICE, "configmaps:write"),
        token("b", ALICE, "deployments.apps:write"),
        token("c", ALICE, "secrets:write", phase="Revoked"),
    )
    assert verdict(request(resource="deployments", group="apps"), st).allowed
    assert not verdict(request(resource="services"), st).allowed


def test_user_tokens_never_get_what_the_role_may_not_hold():
    st = state(token("t", ALICE, "secrets:write", "configmaps:write"))
    result = verdict(request(resource="secrets"), st)
    assert not result.allowed and "not granted (above the role, or not resource:verb): secrets:write" in result.message


@pytest.mark.parametrize(
    ("operation", "options", "subresource", "verbs"),
    [
        ("CREATE", "CreateOptions", "", ("create",)),
        ("CREATE", "PatchOptions", "", ("patch",)),
        ("UPDATE", "UpdateOptions", "", ("update",)),
        ("UPDATE", "PatchOptions", "", ("patch",)),
        ("DELETE", "DeleteOptions", "", ("delete", "deletecollection")),
        ("CONNECT", "PodExecOptions", "exec", ("create",)),
        ("CONNECT", "PodProxyOptions", "proxy", ("get", "create", "update", "patch", "delete")),
    ],
)
def test_verb_mapping(operation, options, subresource, verbs):
    req = request(operation=operation, options_kind=options, resource="pods", subresource=subresource)
    assert verbs_for(req) == verbs


def test_patch_update_and_delete_need_their_own_verbs():
    st = state(token("t", ALICE, "configmaps:update", "pods:deletecollection"))
    assert verdict(request(operation="UPDATE", options_kind="UpdateOptions"), st).allowed
    patched = verdict(request(operation="UPDATE", options_kind="PatchOptions"), st)
    assert not patched.allowed and '"configmaps:patch"' in patched.message
    assert verdict(request(operation="DELETE", resource="pods"), st).allowed


def test_subresources_are_granted_explicitly():
    st = state(token("t", ALICE, "pods:write", "deployments/scale.apps:update"))
    assert not verdict(request(operation="UPDATE", resource="pods", subresource="status"), st).allowed
    assert verdict(request(operation="UPDATE", resource="deployments", group="apps", subresource="scale"), st).allowed
    exec_ = verdict(request(operation="CONNECT", resource="pods", subresource="exec"), st)
    assert not exec_.allowed and '"pods/exec:create"' in exec_.message


# ---- namespaces --------------------------------------------------------------------------------


def test_project_namespace_is_for_admins_only():
    user = state(token("t", ALICE, "deployments.apps:write"))
    result = verdict(request(resource="deployments", group="apps", namespace="k3s-daas"), user)
    assert not result.allowed and result.rule is Rule.PROJECT_NAMESPACE
    admin = state(token("t", ALICE, "*:*", role="admin", stake_mist=10**10))
    assert verdict(request(resource="deployments", group="apps", namespace="k3s-daas"), admin).allowed


def test_owned_namespace_is_written_by_its_owner_and_admins_only():
    owners = {"alice-ns": ALICE}
    st = state(token("a", ALICE, "configmaps:write"), token("b", BOB, "configmaps:write"), owners=owners)
    assert verdict(request(namespace="alice-ns"), st).allowed
    bob = verdict(request(f"sui:{BOB}", namespace="alice-ns"), st)
    assert not bob.allowed and bob.rule is Rule.NAMESPACE_OWNER and ALICE in bob.message
    other = verdict(request("oidc:carol", namespace="alice-ns", groups=frozenset()), st)
    assert not other.allowed and other.rule is Rule.NAMESPACE_OWNER
    admin = verdict(request("oidc:root", namespace="alice-ns", groups=frozenset({"k3s-daas:role:admin"})), st)
    assert admin.allowed


def test_namespaces_are_claimed_only_for_oneself():
    st = state(token("a", ALICE, "namespaces:write"))

    def namespace(owner: str | None) -> dict:
        return {"metadata": {"name": "ns1", "annotations": {"k3s-daas.io/owner": owner} if owner else {}}}

    mine = request(resource="namespaces", namespace="", name="ns1", obj=namespace(ALICE))
    assert verdict(mine, st).allowed
    theirs = verdict(request(resource="namespaces", namespace="", name="ns1", obj=namespace(BOB)), st)
    assert not theirs.allowed and f"only for your own address ({ALICE})" in theirs.message
    # Taking someone's namespace over: the old object says who owns it.
    takeover = request(
        f"sui:{ALICE}", "UPDATE", "namespaces", namespace="ns1", name="ns1", obj=namespace(ALICE), old=namespace(CAROL)
    )
    assert verdict(takeover, st).rule is Rule.NAMESPACE_OWNER


# ---- SealToken and StakedNode --------------------------------------------------------------------


def sealtoken(owner: str, **spec: str) -> dict:
    return {"metadata": {"name": "st"}, "spec": {"owner": owner, "tokenObject": "0x" + "0f" * 32, **spec}}


def test_users_write_sealtokens_for_their_own_address_only():
    st = state(token("t", ALICE, "pods:read"))
    own = verdict(request(resource="sealtokens", group="k3s-daas.io", namespace="", obj=sealtoken(ALICE)), st)
    assert own.allowed and own.rule is Rule.SELF_SERVICE  # no sealtokens permission needed for one's own
    other = verdict(request(resource="sealtokens", group="k3s-daas.io", namespace="", obj=sealtoken(BOB)), st)
    assert not other.allowed and other.rule is Rule.SEALTOKEN and BOB in other.message
    deleted = request(operation="DELETE", resource="sealtokens", group="k3s-daas.io", namespace="", old=sealtoken(BOB))
    assert not verdict(deleted, st).allowed
    claims = verdict(
        request(resource="sealtokens", group="k3s-daas.io", namespace="", obj=sealtoken(ALICE, permissions="*:*")), st
    )
    assert not claims.allowed and "permissions are the ones the chain holds" in claims.message


def test_sealtoken_status_is_the_operators_alone():
    admin = state(token("t", ALICE, "*:*", role="admin", stake_mist=10**10))
    status = request("UPDATE", resource="sealtokens", group="k3s-daas.io", subresource="status", namespace="")
    result = verdict(dataclasses.replace(status, user=UserInfo(f"sui:{ALICE}", SEAL_GROUPS)), admin)
    assert not result.allowed and OPERATOR in result.message
    assert verdict(dataclasses.replace(status, user=UserInfo(OPERATOR)), admin).allowed
    service_account = dataclasses.replace(status, user=UserInfo("system:serviceaccount:default:app"))
    assert not verdict(service_account, admin).allowed


def test_admins_write_any_sealtoken_and_stakednode_with_their_permission():
    admin = state(token("t", ALICE, "sealtokens.k3s-daas.io:write", "stakednodes.k3s-daas.io:write", role="admin",
                        stake_mist=10**10))  # fmt: skip
    assert verdict(request(resource="sealtokens", group="k3s-daas.io", namespace="", obj=sealtoken(BOB)), admin).allowed
    assert verdict(request(resource="stakednodes", group="k3s-daas.io", namespace=""), admin).allowed
    user = state(token("t", ALICE, "stakednodes.k3s-daas.io:write"))
    result = verdict(request(resource="stakednodes", group="k3s-daas.io", namespace=""), user)
    assert not result.allowed and result.rule is Rule.STAKEDNODE
    other = request("system:serviceaccount:x:y", resource="stakednodes", group="k3s-daas.io", namespace="")
    assert not verdict(other, user).allowed


# ---- Nodes -------------------------------------------------------------------------------------


def staked(name: str, node: str, phase: str | None) -> NodeRecord:
    return NodeRecord(name, node, BOB, phase, None, False)


NODE_USER = "system:node:w1"
NODE_GROUPS = frozenset({"system:nodes", "system:authenticated"})


def node_request(operation: str = "CREATE", name: str = "w1", user: str = NODE_USER, **kw) -> AdmissionRequest:
    return request(user, operation, "nodes", namespace="", name=name, groups=NODE_GROUPS, **kw)


def test_node_registers_only_while_its_stakednode_is_active():
    active = state(nodes=(staked("s1", "w1", "Active"),))
    assert verdict(node_request(), active).allowed
    assert verdict(node_request("UPDATE", subresource="status"), active).allowed
    slashed = state(nodes=(staked("s1", "w1", "Slashed"),))
    result = verdict(node_request(), slashed)
    assert not result.allowed and result.rule is Rule.NODE
    assert result.message.startswith("node 'w1' may not register: its StakedNode is Slashed, not Active")
    assert "may not update its Node" in verdict(node_request("UPDATE"), slashed).message
    assert "no StakedNode pays for it" in verdict(node_request(), state()).message


def test_a_new_active_stake_for_the_node_name_wins_over_an_old_slashed_one():
    st = state(nodes=(staked("old", "w1", "Slashed"), staked("new", "w1", "Active")))
    assert verdict(node_request(), st).allowed


def test_static_nodes_other_resources_and_deletes_are_not_gated():
    assert verdict(node_request(name="server-0", user="system:node:server-0")).allowed
    assert verdict(node_request("DELETE")).allowed
    pod_status = request(NODE_USER, "UPDATE", "pods", subresource="status", groups=NODE_GROUPS)
    assert verdict(pod_status).rule is Rule.NOT_COVERED
    bootstrap = node_request(user="system:bootstrap:abc123", obj={"metadata": {"name": "w1"}}, name="")
    assert not verdict(dataclasses.replace(bootstrap, user=UserInfo("system:bootstrap:abc123", frozenset(
        {"system:bootstrappers"})))).allowed  # fmt: skip


def test_requests_no_rule_covers_are_rbacs_business():
    result = verdict(request("oidc:carol", resource="configmaps", groups=frozenset()))
    assert result.allowed and result.rule is Rule.NOT_COVERED
