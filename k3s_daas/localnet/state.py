"""The values localnet's pure core works on: objects, owners, calls, effects, aborts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from k3s_daas.errors import UserError
from k3s_daas.localnet.move import TypeTag
from k3s_daas.localnet.package import AbortCode, Package


class OwnerKind(StrEnum):
    ADDRESS = "address"
    OBJECT = "object"
    SHARED = "shared"
    IMMUTABLE = "immutable"


@dataclass(frozen=True, slots=True)
class Owner:
    kind: OwnerKind
    address: str = ""
    """The owning account (ADDRESS) or parent object (OBJECT)."""
    initial_shared_version: int = 0

    @classmethod
    def account(cls, address: str) -> Owner:
        return cls(OwnerKind.ADDRESS, address=address)

    @classmethod
    def parent(cls, object_id: str) -> Owner:
        return cls(OwnerKind.OBJECT, address=object_id)

    @classmethod
    def shared(cls, initial_shared_version: int) -> Owner:
        return cls(OwnerKind.SHARED, initial_shared_version=initial_shared_version)

    @classmethod
    def immutable(cls) -> Owner:
        return cls(OwnerKind.IMMUTABLE)

    def as_sui_json(self) -> object:
        """The ``owner`` shape of Sui's JSON output (``sui client call --json``)."""
        if self.kind is OwnerKind.ADDRESS:
            return {"AddressOwner": self.address}
        if self.kind is OwnerKind.OBJECT:
            return {"ObjectOwner": self.address}
        if self.kind is OwnerKind.SHARED:
            return {"Shared": {"initial_shared_version": self.initial_shared_version}}
        return "Immutable"


@dataclass(frozen=True, slots=True)
class ObjectState:
    """One version of an object. ``type`` is None for the package object."""

    object_id: str
    version: int
    type: TypeTag | None
    owner: Owner
    contents: Mapping[str, object]
    has_public_transfer: bool = False

    @property
    def is_package(self) -> bool:
        return self.type is None

    @property
    def type_repr(self) -> str:
        return "package" if self.type is None else self.type.repr()


class StateReader(Protocol):
    """Read access to the live object set, as of the start of the transaction."""

    def get_object(self, object_id: str) -> ObjectState | None: ...


@dataclass(frozen=True, slots=True)
class Deployment:
    """What genesis published: the package and its shared objects."""

    package: Package
    pool_id: str
    gateway_id: str
    admin: str
    enclave_config_id: str = ""
    """The shared ``enclave::EnclaveConfig``; empty only on a chain created before the enclave
    module, until ``Store.initialise`` adds it."""


@dataclass(frozen=True, slots=True)
class Call:
    """An entry-function call as its sender signed it; arguments by Move parameter name."""

    module: str
    function: str
    arguments: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TxContext:
    sender: str
    digest: bytes
    timestamp_ms: int


class ChangeKind(StrEnum):
    CREATED = "created"
    MUTATED = "mutated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class ObjectChange:
    kind: ChangeKind
    object_id: str
    before: ObjectState | None
    """The input version (None when created)."""
    after: ObjectState | None
    """The output version (None when deleted)."""

    @property
    def latest(self) -> ObjectState:
        state = self.after or self.before
        assert state is not None
        return state


@dataclass(frozen=True, slots=True)
class Event:
    type: TypeTag
    module: str
    """The module of the entry function called (``transactionModule``)."""
    sender: str
    contents: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Effects:
    lamport_version: int
    changes: tuple[ObjectChange, ...]
    events: tuple[Event, ...]


class MoveAbort(UserError):
    """The Move code aborted: nothing changes, as on a real network."""

    def __init__(self, function: str, abort: AbortCode, detail: str) -> None:
        self.function = function
        self.abort = abort
        self.detail = detail
        super().__init__(f"MoveAbort in {abort.module}::{function} with code {abort.code} ({abort.name}): {detail}")


class InvalidTransaction(UserError):
    """Rejected before any Move code runs: unknown object, wrong owner or type, bad argument."""
