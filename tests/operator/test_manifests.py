"""The operator under the least-privilege RBAC of manifests/base: it does its whole job with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from operator_testing import SUI, Chain, OperatorProcess, get_json, new_key, operator_command, operator_env, wait_for

from k3s_daas.controlplane.kubeconfig import token_kubeconfig, write_kubeconfig
from k3s_daas.controlplane.processes import free_loopback_port

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def test_operator_works_with_the_manifests_rbac(kubectl, control_plane, crds, chain: Chain, tmp_path: Path) -> None:
    for name in ("00-namespace.yaml", "01-crd-sealtokens.yaml", "01-crd-stakednodes.yaml", "10-operator-rbac.yaml"):
        kubectl("apply", "-f", str(REPO / "manifests" / "base" / name))
    token = kubectl("create", "token", "k3s-daas-operator", "-n", "k3s-daas", "--duration=1h").stdout.strip()
    kubeconfig = tmp_path / "operator.kubeconfig"
    ca = control_plane.ca_file.read_bytes()
    write_kubeconfig(kubeconfig, token_kubeconfig(control_plane.server, ca, token, "operator"))
    port = free_loopback_port()
    env = operator_env(chain, "k3s-daas")
    operator = OperatorProcess(operator_command(kubeconfig, port), env, tmp_path / "operator.log", port).start()
    user, node_owner = new_key(), new_key()
    record = chain.stake(user, 0, SUI)
    seal = chain.issue(user, record, ["pods:get"])
    node_record = chain.stake(node_owner, 1, SUI, "rbac-worker")
    manifests = [
        {
            "apiVersion": "k3s-daas.io/v1alpha1",
            "kind": "SealToken",
            "metadata": {"name": "rbac-check"},
            "spec": {"owner": user.address, "tokenObject": seal},
        },
        {
            "apiVersion": "k3s-daas.io/v1alpha1",
            "kind": "StakedNode",
            "metadata": {"name": "rbac-worker"},
            "spec": {"nodeName": "rbac-worker", "owner": node_owner.address, "stakeRecord": node_record},
        },
    ]
    try:
        for manifest in manifests:
            kubectl("apply", "-f", "-", input=json.dumps(manifest))
        wait_for(
            "SealToken Active",
            lambda: (get_json(kubectl, "sealtoken", "rbac-check") or {}).get("status", {}).get("phase") == "Active",
        )
        assert get_json(kubectl, "clusterrolebinding", "k3s-daas:sealtoken:rbac-check") is not None
        status = wait_for(
            "StakedNode with a token",
            lambda: (
                (s := (get_json(kubectl, "stakednode", "rbac-worker") or {}).get("status") or {}).get(
                    "bootstrapTokenSecret"
                )
                and s
            ),
        )
        assert get_json(kubectl, "secret", "-n", "kube-system", status["bootstrapTokenSecret"]) is not None
        chain.slash(node_record, SUI // 2, "rbac test")
        wait_for(
            "Slashed",
            lambda: (get_json(kubectl, "stakednode", "rbac-worker") or {}).get("status", {}).get("phase") == "Slashed",
        )
        assert get_json(kubectl, "secret", "-n", "kube-system", status["bootstrapTokenSecret"]) is None
        wait_for("cursor saved", lambda: get_json(kubectl, "configmap", "-n", "k3s-daas", "k3s-daas-operator-cursor"))
        operator.assert_running()
        # No 403 from the API server; a log timestamp's milliseconds (",403") are not one.
        assert re.search(r"(?<![\d,])403\b", operator.log()) is None and "forbidden" not in operator.log().lower()
    finally:
        operator.stop()
        kubectl("delete", "sealtoken", "rbac-check", "--ignore-not-found", "--wait=false")
        kubectl("delete", "stakednode", "rbac-worker", "--ignore-not-found", "--wait=false")
