"""An admission verdict: allowed or not, the rule that decided (a metric label), a message for people."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Rule(enum.StrEnum):
    """Which rule decided. Values are metric labels and audit annotations: a fixed set."""

    EXEMPT = "exempt"
    """system:masters: the break-glass admin."""
    OPERATOR = "operator"
    REVIEW = "review"
    """TokenReview, SubjectAccessReview and friends: queries, not writes."""
    NOT_COVERED = "not_covered"
    """No rule applies; RBAC decided."""
    IDENTITY = "identity"
    STAKE = "stake"
    PERMISSION = "permission"
    SELF_SERVICE = "self_service"
    """A Seal user writing its own SealToken."""
    PROJECT_NAMESPACE = "project_namespace"
    NAMESPACE_OWNER = "namespace_owner"
    SEALTOKEN = "sealtoken"
    STAKEDNODE = "stakednode"
    NODE = "node"
    UNKNOWN_OPERATION = "unknown_operation"
    CHAIN_UNREACHABLE = "chain_unreachable"
    """A Seal user's write while chain state is older than the maximum staleness."""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    rule: Rule
    message: str = ""

    @classmethod
    def allow(cls, rule: Rule, message: str = "") -> Verdict:
        return cls(True, rule, message)

    @classmethod
    def deny(cls, rule: Rule, message: str) -> Verdict:
        return cls(False, rule, message)
