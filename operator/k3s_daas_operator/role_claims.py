"""Which SealTokens use which shared ClusterRole: the reference count that decides when a role goes.

A token claims a role before its binding is written and releases it after its binding is
deleted, so a role is never without a claim while a binding may name it. A token may hold two
claims for a moment (its grants changed: the new role is claimed before the binding moves, the
old one released after).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class RoleClaims:
    _users: dict[str, set[str]] = field(default_factory=dict)
    """Role name -> the SealTokens claiming it."""
    _roles: dict[str, set[str]] = field(default_factory=dict)
    """SealToken name -> the roles it claims."""

    def claim(self, sealtoken: str, role: str) -> None:
        self._users.setdefault(role, set()).add(sealtoken)
        self._roles.setdefault(sealtoken, set()).add(role)

    def release(self, sealtoken: str, role: str) -> None:
        users = self._users.get(role)
        if users is not None:
            users.discard(sealtoken)
            if not users:
                del self._users[role]
        roles = self._roles.get(sealtoken)
        if roles is not None:
            roles.discard(role)
            if not roles:
                del self._roles[sealtoken]

    def release_all(self, sealtoken: str) -> set[str]:
        """Drop every claim of ``sealtoken``; returns the roles it held."""
        roles = set(self._roles.get(sealtoken, ()))
        for role in roles:
            self.release(sealtoken, role)
        return roles

    def roles_of(self, sealtoken: str) -> set[str]:
        return set(self._roles.get(sealtoken, ()))

    def in_use(self, role: str) -> bool:
        return role in self._users

    def unclaimed(self, roles: Iterable[str]) -> list[str]:
        return sorted(r for r in roles if r not in self._users)
