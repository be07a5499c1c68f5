from __future__ import annotations

import pytest

from k3s_daas.permissions import InvalidPermission, Permission, allowed, parse_all


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pods:get", Permission("pods", "", ("get",))),
        ("deployments.apps:create", Permission("deployments", "apps", ("create",))),
        ("pods/log:get", Permission("pods/log", "", ("get",))),
        ("pods/*:create", Permission("pods/*", "", ("create",))),
        ("sealtokens.k3s-daas.io:read", Permission("sealtokens", "k3s-daas.io", ("get", "list", "watch"))),
        ("*:*", Permission("*", "*", ("*",))),
        ("configmaps:write", Permission("configmaps", "", ("create", "update", "patch", "delete", "deletecollection"))),
    ],
)
def test_grammar(text: str, expected: Permission) -> None:
    assert Permission.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["pods", "pods:get:list", ":get", "pods:", "pods:eat", "Pods:get", "pods get:list", "pods/:get", "-x:get"]
)
def test_invalid_permissions_say_why(text: str) -> None:
    with pytest.raises(InvalidPermission, match="permission"):
        Permission.parse(text)


def test_matching_respects_group_resource_subresource_and_verb() -> None:
    grants, problems = parse_all(["deployments.apps:write", "pods:read", "pods/exec:create", "bad"])
    assert problems == ["permission 'bad' is not resource:verb"]
    assert allowed(grants, "apps", "deployments", "", "patch")
    assert not allowed(grants, "", "deployments", "", "patch")  # core group is not apps
    assert allowed(grants, "", "pods", "", "list")
    assert not allowed(grants, "", "pods", "", "create")
    assert allowed(grants, "", "pods", "exec", "create")
    assert not allowed(grants, "", "pods", "log", "get")  # subresources are granted by name
    assert allowed([Permission.parse("*:create")], "batch", "jobs", "", "create")


def test_rbac_rule_is_exactly_the_grant() -> None:
    assert Permission.parse("deployments.apps:read").rbac_rule() == {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "list", "watch"],
    }
