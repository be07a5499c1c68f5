"""Typed views of the two custom resources, parsed strictly from API server bodies (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

_ADDRESS: Final = re.compile(r"0x[0-9a-f]{64}")


class MalformedResource(ValueError):
    """A body that is not a valid SealToken or StakedNode (the CRD schema normally prevents it)."""


class SealTokenPhase(StrEnum):
    PENDING = "Pending"
    ACTIVE = "Active"
    EXPIRED = "Expired"
    REVOKED = "Revoked"
    INSUFFICIENT_STAKE = "InsufficientStake"
    NOT_FOUND = "NotFound"


class NodePhase(StrEnum):
    PENDING = "Pending"
    ACTIVE = "Active"
    DRAINING = "Draining"
    SLASHED = "Slashed"
    UNSTAKING = "Unstaking"
    INSUFFICIENT_STAKE = "InsufficientStake"
    NOT_FOUND = "NotFound"


@dataclass(frozen=True, slots=True)
class SealTokenResource:
    name: str
    uid: str
    generation: int
    owner: str
    token_object: str
    status: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SealTokenResource:
        meta, spec = _meta_and_spec(body, "SealToken")
        return cls(
            name=meta["name"],
            uid=meta["uid"],
            generation=int(meta.get("generation", 1)),
            owner=_address(spec, "owner", "SealToken"),
            token_object=_address(spec, "tokenObject", "SealToken"),
            status=dict(body.get("status") or {}),
        )

    @property
    def phase(self) -> str:
        return str(self.status.get("phase", SealTokenPhase.PENDING))


@dataclass(frozen=True, slots=True)
class StakedNodeResource:
    name: str
    uid: str
    generation: int
    node_name: str
    owner: str
    stake_record: str
    status: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> StakedNodeResource:
        meta, spec = _meta_and_spec(body, "StakedNode")
        node_name = spec.get("nodeName")
        if not isinstance(node_name, str) or not node_name:
            raise MalformedResource(f"StakedNode {meta['name']}: spec.nodeName is missing")
        return cls(
            name=meta["name"],
            uid=meta["uid"],
            generation=int(meta.get("generation", 1)),
            node_name=node_name,
            owner=_address(spec, "owner", "StakedNode"),
            stake_record=_address(spec, "stakeRecord", "StakedNode"),
            status=dict(body.get("status") or {}),
        )

    @property
    def phase(self) -> str:
        return str(self.status.get("phase", NodePhase.PENDING))


def _meta_and_spec(body: Mapping[str, Any], kind: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    meta = body.get("metadata")
    spec = body.get("spec")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str) or not isinstance(meta.get("uid"), str):
        raise MalformedResource(f"{kind} without metadata.name/uid")
    if not isinstance(spec, Mapping):
        raise MalformedResource(f"{kind} {meta['name']} has no spec")
    return meta, spec


def _address(spec: Mapping[str, Any], key: str, kind: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise MalformedResource(f"{kind} spec.{key} {value!r} is not 0x followed by 64 lowercase hex digits")
    return value
