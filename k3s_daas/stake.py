"""The stake policy: roles, their minimum stakes, and how amounts are shown.

The numbers are those of contracts/sources/staking.move (docs/chain-model.md); the operator, the
webhook and localnet all read them from here.
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum
from typing import Final

MIST_PER_SUI: Final = 1_000_000_000


class Role(IntEnum):
    """A stake's role, with the u8 code the Move package stores."""

    USER = 0
    NODE = 1
    ADMIN = 2

    @property
    def minimum_mist(self) -> int:
        return _MINIMUM_MIST[self]

    @property
    def label(self) -> str:
        """The lowercase name used in CLIs, groups (`k3s-daas:role:<label>`) and status."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Role:
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"unknown role {label!r}: expected user, node or admin") from None


_MINIMUM_MIST: Final = {Role.USER: 500_000_000, Role.NODE: 1_000_000_000, Role.ADMIN: 10_000_000_000}


def meets_minimum(role: Role, amount_mist: int) -> bool:
    return amount_mist >= role.minimum_mist


def format_sui(amount_mist: int) -> str:
    """MIST as SUI for people: exact, without trailing zeros (``500000000`` -> ``"0.5"``)."""
    text = format(Decimal(amount_mist) / MIST_PER_SUI, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
