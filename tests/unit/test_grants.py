"""A user stake (0.5 SUI) must never buy a path to more privilege; an admin stake gets what it lists."""

from __future__ import annotations

import pytest

from k3s_daas.grants import grants_for
from k3s_daas.stake import Role

ESCALATIONS = [
    "pods/*:create",  # covers pods/exec
    "serviceaccounts/*:create",  # covers serviceaccounts/token
    "serviceaccounts:*",  # * includes impersonate
    "pods:*",
    "*:get",
    "pods/exec:create",
    "pods/attach:create",
    "pods/portforward:create",
    "pods/proxy:get",
    "pods/ephemeralcontainers:update",
    "services/proxy:get",
    "serviceaccounts/token:create",
    "secrets:read",
    "nodes:read",
    "nodes/proxy:get",
    "clusterroles.rbac.authorization.k8s.io:create",
    "validatingwebhookconfigurations.admissionregistration.k8s.io:delete",
    "customresourcedefinitions.apiextensions.k8s.io:create",
    "certificatesigningrequests.certificates.k8s.io:create",
    "sealtokens.k3s-daas.io:update",
]


@pytest.mark.parametrize("text", ESCALATIONS)
def test_user_tokens_are_refused_every_escalation_path(text: str) -> None:
    grants = grants_for(Role.USER, [text])
    assert grants.granted == ()
    assert len(grants.refused) == 1 and "admin stake" in grants.refused[0]


def test_user_tokens_keep_ordinary_workload_permissions() -> None:
    grants = grants_for(
        Role.USER, ["pods:read", "deployments.apps:write", "pods/log:get", "sealtokens.k3s-daas.io:read"]
    )
    assert len(grants.granted) == 4 and grants.refused == ()


def test_admin_tokens_get_everything_they_list() -> None:
    assert len(grants_for(Role.ADMIN, ESCALATIONS).granted) == len(ESCALATIONS)
