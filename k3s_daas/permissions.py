"""Seal token permissions: `resource:verb` strings, as held on chain.

The grammar is in docs/cluster-objects.md. The operator turns permissions into RBAC rules and the
admission webhook matches requests against them; both use this module so the two never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

KUBERNETES_VERBS: Final = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
SHORTHAND_VERBS: Final = {
    "read": ("get", "list", "watch"),
    "write": ("create", "update", "patch", "delete", "deletecollection"),
}
WRITE_VERBS: Final = frozenset(SHORTHAND_VERBS["write"])
# plural[/subresource][.group]: DNS-label-like names as the API server uses them.
_RESOURCE = re.compile(
    r"^(?P<plural>[a-z0-9]([-a-z0-9]*[a-z0-9])?)(/(?P<sub>[a-z0-9]+|\*))?(\.(?P<group>[a-z0-9.-]+))?$"
)


class InvalidPermission(ValueError):
    """A permission string that does not follow the grammar; the message says which part."""


@dataclass(frozen=True, order=True)
class Permission:
    """One grant: ``group`` "" is the core API group; ``"*"`` in any field matches everything."""

    resource: str
    """Plural resource name, optionally with "/subresource", or "*"."""
    group: str
    verbs: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Permission:
        if text.count(":") != 1:
            raise InvalidPermission(f"permission {text!r} is not resource:verb")
        resource_text, verb = text.split(":")
        if verb in SHORTHAND_VERBS:
            verbs = SHORTHAND_VERBS[verb]
        elif verb == "*" or verb in KUBERNETES_VERBS:
            verbs = (verb,)
        else:
            raise InvalidPermission(f"permission {text!r}: unknown verb {verb!r}")
        if resource_text == "*":
            return cls("*", "*", verbs)
        match = _RESOURCE.match(resource_text)
        if match is None:
            raise InvalidPermission(f"permission {text!r}: {resource_text!r} is not plural[/subresource][.group]")
        resource = match["plural"] + (f"/{match['sub']}" if match["sub"] else "")
        return cls(resource, match["group"] or "", verbs)

    def allows(self, group: str, resource: str, subresource: str, verb: str) -> bool:
        """Does this grant cover ``verb`` on ``group``/``resource``[/``subresource``]?"""
        if self.group not in ("*", group):
            return False
        if "*" not in self.verbs and verb not in self.verbs:
            return False
        if self.resource == "*":
            return True
        plural, _, granted_sub = self.resource.partition("/")
        if plural != resource:
            return False
        return granted_sub in ("*", subresource)

    def rbac_rule(self) -> dict[str, list[str]]:
        """The RBAC PolicyRule granting exactly this permission."""
        return {"apiGroups": [self.group], "resources": [self.resource], "verbs": list(self.verbs)}


def parse_all(texts: Iterable[str]) -> tuple[list[Permission], list[str]]:
    """Parse what the chain holds: valid permissions, and one message for each invalid string.

    The chain accepts any ``x:y`` string, so an invalid one is reported and skipped, never fatal.
    """
    permissions: list[Permission] = []
    problems: list[str] = []
    for text in texts:
        try:
            permissions.append(Permission.parse(text))
        except InvalidPermission as error:
            problems.append(str(error))
    return permissions, problems


def allowed(permissions: Iterable[Permission], group: str, resource: str, subresource: str, verb: str) -> bool:
    return any(p.allows(group, resource, subresource, verb) for p in permissions)
