"""RBAC objects and status bodies built from a verdict (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from k3s_daas.permissions import Permission
from k3s_daas_operator import rbac
from k3s_daas_operator.resources import SealTokenPhase
from k3s_daas_operator.sealtoken_policy import SealTokenVerdict
from k3s_daas_operator.status import material, merge_patch, needs_write, ready_condition, sealtoken_status

OWNER = "0x" + "a" * 64
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_cluster_role_is_shared_by_its_rules_and_the_binding_is_owned_by_the_token() -> None:
    grants = [Permission.parse("pods:get"), Permission.parse("pods:list"), Permission.parse("deployments.apps:*")]
    role = rbac.cluster_role(grants)
    digest = role["metadata"]["labels"]["k3s-daas.io/grants"]
    assert role["metadata"]["name"] == f"k3s-daas:grants:{digest}" and len(digest) == 32
    assert "ownerReferences" not in role["metadata"]  # shared: deleted by the operator, not by GC
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
    ]
    # The same rules, however they are spelled, give the same role; other rules another one.
    spelled = ["deployments.apps:*", "pods:list", "pods:get"]
    same = rbac.cluster_role([Permission.parse(p) for p in spelled])
    assert same["metadata"]["name"] == role["metadata"]["name"]
    assert rbac.cluster_role([Permission.parse("pods:get")])["metadata"]["name"] != role["metadata"]["name"]
    binding = rbac.cluster_role_binding("alice", "uid-1", OWNER, role["metadata"]["name"])
    assert binding["metadata"]["name"] == "k3s-daas:sealtoken:alice"
    assert binding["metadata"]["labels"]["k3s-daas.io/sealtoken"] == "alice"
    assert binding["metadata"]["ownerReferences"][0] == {
        "apiVersion": "k3s-daas.io/v1alpha1",
        "kind": "SealToken",
        "name": "alice",
        "uid": "uid-1",
        "controller": True,
    }
    assert binding["subjects"][0]["name"] == f"sui:{OWNER}"
    assert rbac.role_ref(binding) == role["metadata"]["name"]


def test_fingerprint_ignores_server_additions_but_not_rule_changes() -> None:
    desired = rbac.cluster_role([Permission.parse("pods:get")])
    served = {**desired, "metadata": {**desired["metadata"], "resourceVersion": "9", "uid": "x", "annotations": {}}}
    assert rbac.fingerprint(desired) == rbac.fingerprint(served)
    changed = {**desired, "rules": rbac.cluster_role([Permission.parse("pods:list")])["rules"]}
    assert rbac.fingerprint(changed) != rbac.fingerprint(served)
    binding = rbac.cluster_role_binding("alice", "uid-1", OWNER, "k3s-daas:grants:x")
    assert rbac.fingerprint(rbac.cluster_role_binding("alice", "uid-2", OWNER, "k3s-daas:grants:x")) != (
        rbac.fingerprint(binding)
    )
    assert rbac.fingerprint(rbac.cluster_role_binding("alice", "uid-1", OWNER, "k3s-daas:grants:y")) != (
        rbac.fingerprint(binding)
    )


def test_ready_condition_keeps_its_transition_time_until_it_flips() -> None:
    first = ready_condition(True, "Active", "ok", {}, NOW, 1)
    later = ready_condition(True, "Active", "ok", {"conditions": first}, NOW + timedelta(hours=1), 1)
    assert later[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    flipped = ready_condition(False, "Revoked", "no", {"conditions": first}, NOW + timedelta(hours=1), 1)
    assert flipped[0]["lastTransitionTime"] != first[0]["lastTransitionTime"] and flipped[0]["status"] == "False"


def test_status_is_rewritten_only_on_change_or_when_stale() -> None:
    verdict = SealTokenVerdict(
        SealTokenPhase.REVOKED, "revoked on chain", stake_record="0x1", permissions=("pods:get",)
    )
    status = sealtoken_status(verdict, {}, NOW, 3, "checkpoint:5")
    assert status["phase"] == "Revoked" and status["observedGeneration"] == 3 and status["role"] is None
    assert status["conditions"][0]["reason"] == "Revoked"
    again = sealtoken_status(verdict, status, NOW + timedelta(seconds=30), 3, "checkpoint:9")
    assert not needs_write(again, status, NOW + timedelta(seconds=30), refresh_s=600)
    assert needs_write(again, status, NOW + timedelta(seconds=601), refresh_s=600)
    assert needs_write(
        sealtoken_status(SealTokenVerdict(SealTokenPhase.EXPIRED, "x"), status, NOW, 3, ""), status, NOW, 600
    )
    assert "role" not in material(status)
    assert merge_patch({"phase": "Active"}, {"phase": "Revoked", "message": "m"}) == {
        "phase": "Active",
        "message": None,
    }
