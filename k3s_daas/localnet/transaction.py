"""One transaction being built: what an entry function reads and writes, never storage.

``Tx`` loads objects through a ``StateReader`` as the Move code asks for them, keeps every
change in memory, and turns them into ``Effects`` at the end (every written object at the
transaction's Lamport version). Sui's input checks live here too: an owned input must exist,
have the declared type and belong to the sender; a shared one must exist with its type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from k3s_daas.localnet.move import TypeTag, derive_dynamic_field_id, derive_object_id, field_type
from k3s_daas.localnet.package import ABORTS
from k3s_daas.localnet.state import (
    Call,
    ChangeKind,
    Deployment,
    Effects,
    Event,
    InvalidTransaction,
    MoveAbort,
    ObjectChange,
    ObjectState,
    Owner,
    OwnerKind,
    StateReader,
    TxContext,
)


class Tx:
    """Collects what one transaction reads and writes; never touches storage."""

    def __init__(self, reader: StateReader, deployment: Deployment, ctx: TxContext, call: Call) -> None:
        self.reader = reader
        self.deployment = deployment
        self.package = deployment.package
        self.ctx = ctx
        self.call = call
        self._loaded: dict[str, ObjectState] = {}
        self._current: dict[str, ObjectState | None] = {}
        self._created: list[str] = []
        self._touched: list[str] = []
        self._events: list[Event] = []
        self._ids_created = 0

    # reads

    def _load(self, object_id: str) -> ObjectState | None:
        if object_id in self._current:
            return self._current[object_id]
        state = self.reader.get_object(object_id)
        if state is not None:
            self._loaded[object_id] = state
            self._current[object_id] = state
        return state

    def owned_input(self, object_id: str, expected: TypeTag, what: str) -> ObjectState:
        state = self._load(object_id)
        if state is None:
            raise InvalidTransaction(f"{what} {object_id} does not exist (or was deleted)")
        if state.type != expected:
            raise InvalidTransaction(f"{what} {object_id} is a {state.type_repr}, not a {expected.repr()}")
        if state.owner != Owner.account(self.ctx.sender):
            owner = state.owner.address or state.owner.kind.value
            raise InvalidTransaction(f"{what} {object_id} is owned by {owner}, not by the sender {self.ctx.sender}")
        # Sui gives every owned input the transaction's version, even one passed by reference.
        self._touch(object_id)
        return state

    def admin_cap(self, object_id: str) -> ObjectState:
        """The sender's ``&AdminCap`` argument."""
        return self.owned_input(object_id, self.package.admin_cap, "admin capability")

    def shared_input(self, object_id: str, expected: TypeTag, *, mutable: bool) -> ObjectState:
        state = self._load(object_id)
        if state is None or state.type != expected:
            raise InvalidTransaction(f"shared object {object_id} ({expected.repr()}) is missing")
        if mutable:
            self._touch(object_id)
        return state

    def table_get(self, table: Mapping[str, object], key_type: TypeTag, key: object) -> ObjectState | None:
        field_id = self._field_id(table, key_type, key)
        return self._load(field_id)

    # writes

    def _touch(self, object_id: str) -> None:
        if object_id not in self._touched:
            self._touched.append(object_id)

    def fresh_id(self) -> str:
        object_id = derive_object_id(self.ctx.digest, self._ids_created)
        self._ids_created += 1
        return object_id

    def current(self, state: ObjectState) -> ObjectState:
        return self._current.get(state.object_id) or state

    def create(
        self,
        object_id: str,
        type_: TypeTag,
        owner: Owner,
        contents: Mapping[str, object],
        *,
        public_transfer: bool = False,
    ) -> None:
        """``public_transfer``: the type has ``key`` and ``store`` (Sui's ``hasPublicTransfer``)."""
        self._current[object_id] = ObjectState(
            object_id, 0, type_, owner, dict(contents), has_public_transfer=public_transfer
        )
        self._created.append(object_id)
        self._touch(object_id)

    def update(self, state: ObjectState, **changes: object) -> ObjectState:
        current = self.current(state)
        contents = dict(current.contents)
        contents.update(changes)
        new = replace(current, contents=contents)
        self._current[state.object_id] = new
        self._touch(state.object_id)
        return new

    def delete(self, state: ObjectState) -> None:
        self._current[state.object_id] = None
        self._touch(state.object_id)

    def table_add(
        self,
        parent: ObjectState,
        table_field: str,
        key_type: TypeTag,
        key: object,
        value_type: TypeTag,
        value: Mapping[str, object],
    ) -> None:
        parent = self.current(parent)
        table = as_struct(parent.contents[table_field])
        field_id = self._field_id(table, key_type, key)
        self.create(
            field_id,
            field_type(key_type, value_type),
            Owner.parent(str(table["id"])),
            {"id": field_id, "name": key, "value": dict(value)},
        )
        self.update(parent, **{table_field: {"id": table["id"], "size": str(int(str(table["size"])) + 1)}})

    def table_update(self, field_object: ObjectState, **changes: object) -> None:
        value = dict(as_struct(field_object.contents["value"]))
        value.update(changes)
        self.update(field_object, value=value)

    def emit(self, module: str, name: str, contents: Mapping[str, object]) -> None:
        event_type = self.package.event(module, name)
        self._events.append(Event(event_type, self.call.module, self.ctx.sender, dict(contents)))

    def _field_id(self, table: Mapping[str, object], key_type: TypeTag, key: object) -> str:
        key_bcs = self.package.layouts.to_bcs(key_type, key)
        return derive_dynamic_field_id(str(table["id"]), key_type, key_bcs)

    def effects(self) -> Effects:
        lamport = 1 + max((state.version for state in self._loaded.values()), default=0)
        changes: list[ObjectChange] = []
        for object_id in self._touched:
            before = self._loaded.get(object_id)
            after = self._current[object_id]
            if before is None and after is None:
                continue  # created and deleted in the same transaction: Sui shows nothing
            if after is None:
                changes.append(ObjectChange(ChangeKind.DELETED, object_id, before, None))
                continue
            after = replace(after, version=lamport)
            if before is None and after.owner.kind is OwnerKind.SHARED:
                # ``transfer::share_object`` of a new object: it is shared from this version on.
                after = replace(after, owner=Owner.shared(lamport))
            kind = ChangeKind.CREATED if before is None else ChangeKind.MUTATED
            changes.append(ObjectChange(kind, object_id, before, after))
        return Effects(lamport, tuple(changes), tuple(self._events))


def as_struct(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a Move struct value, got {value!r}")
    return value


def as_int(value: object) -> int:
    return int(str(value))


def abort(function: str, name: str, detail: str) -> MoveAbort:
    return MoveAbort(function, ABORTS[name], detail)
