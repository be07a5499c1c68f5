"""The entry functions of contracts/sources as pure functions of (state, call, time).

``execute`` reads the live objects through a ``StateReader`` and returns the ``Effects`` (object
changes with their new versions, events) or raises ``MoveAbort`` / ``InvalidTransaction``; it
writes nothing. The checks run in the order the Move code runs them, so the abort code for an
input that breaks several rules is the same on both sides (the scenario vectors pin this).

Transaction-level behaviour of Sui is reproduced too: an owned input must belong to the sender
and have the declared type, every owned input and every mutable shared input gets the
transaction's lamport version, objects read at run time (table entries) count for that version.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from k3s_daas.chain.models import StakeStatus
from k3s_daas.localnet.move import (
    ID_TYPE,
    U64,
    TypeTag,
    canonical_address,
    coin_type,
    derive_dynamic_field_id,
    derive_object_id,
    field_type,
)
from k3s_daas.localnet.package import (
    ABORTS,
    DEFAULT_COOLDOWN_MS,
    GATEWAY,
    MAX_PERMISSION_BYTES,
    MAX_TOKEN_LIFETIME_MS,
    MODULES,
    REQUEST_METHODS,
    STAKING,
    Package,
)
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
    StateReader,
    TxContext,
)
from k3s_daas.stake import Role

_U8_MAX: Final = 2**8 - 1
_U16_MAX: Final = 2**16 - 1
_U64_MAX: Final = 2**64 - 1


# --- argument decoding --------------------------------------------------------------------


def _u(bits_max: int) -> Callable[[str, object], int]:
    def parse(name: str, value: object) -> int:
        if isinstance(value, bool):
            raise InvalidTransaction(f"argument {name!r} must be an unsigned integer, got a boolean")
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or not 0 <= value <= bits_max:
            raise InvalidTransaction(f"argument {name!r} must be an integer from 0 to {bits_max}")
        return value

    return parse


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTransaction(f"argument {name!r} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidTransaction(f"argument {name!r} is not valid UTF-8") from None
    return value


def _strings(name: str, value: object) -> list[str]:
    if not isinstance(value, list):
        raise InvalidTransaction(f"argument {name!r} must be a list of strings")
    return [_string(f"{name}[{index}]", item) for index, item in enumerate(value)]


def _object_id(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTransaction(f"argument {name!r} must be an object id (0x...)")
    try:
        return canonical_address(value)
    except ValueError:
        raise InvalidTransaction(f"argument {name!r}: {value!r} is not an object id (0x...)") from None


def _bytes_b64(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTransaction(f"argument {name!r} must be Base64 bytes")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidTransaction(f"argument {name!r} must be Base64 bytes") from None
    return value


_Parser = Callable[[str, object], object]
_U8: Final[_Parser] = _u(_U8_MAX)
_U16: Final[_Parser] = _u(_U16_MAX)
_U64: Final[_Parser] = _u(_U64_MAX)

# Parameters by entry function, without the shared objects, the clock and the context (localnet
# supplies those). ``amount`` of ``stake`` is the value of the coin localnet mints for the call.
SIGNATURES: Final[Mapping[tuple[str, str], Mapping[str, _Parser]]] = {
    (STAKING, "stake"): {"amount": _U64, "role": _U8, "node_name": _string},
    (STAKING, "request_unstake"): {"record": _object_id},
    (STAKING, "withdraw"): {"record": _object_id},
    (STAKING, "slash"): {"cap": _object_id, "record_id": _object_id, "amount": _U64, "reason": _string},
    (STAKING, "set_cooldown"): {"cap": _object_id, "cooldown_ms": _U64},
    (GATEWAY, "issue_seal_token"): {"record": _object_id, "permissions": _strings, "expires_in_ms": _U64},
    (GATEWAY, "revoke_seal_token"): {"token_id": _object_id},
    (GATEWAY, "admin_revoke_seal_token"): {"cap": _object_id, "token_id": _object_id},
    (GATEWAY, "submit_request"): {"method": _string, "path": _string, "payload": _string},
    (GATEWAY, "store_k8s_response"): {
        "cap": _object_id,
        "request_id": _U64,
        "status_code": _U16,
        "body_digest": _bytes_b64,
        "body": _string,
    },
}


def decode_arguments(call: Call) -> dict[str, object]:
    """Check a call's arguments against the entry function's parameters; clear errors only."""
    signature = SIGNATURES.get((call.module, call.function))
    if signature is None:
        known = ", ".join(f"{m}::{f}" for m, f in sorted(SIGNATURES))
        raise InvalidTransaction(f"no entry function {call.module}::{call.function} (known: {known})")
    missing = sorted(set(signature) - set(call.arguments))
    extra = sorted(set(call.arguments) - set(signature))
    if missing or extra:
        raise InvalidTransaction(
            f"{call.module}::{call.function} takes arguments {sorted(signature)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "")
        )
    return {name: parse(name, call.arguments[name]) for name, parse in signature.items()}


# --- the transaction being built ----------------------------------------------------------


class _Tx:
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
        table = _mapping(parent.contents[table_field])
        field_id = self._field_id(table, key_type, key)
        self.create(
            field_id,
            field_type(key_type, value_type),
            Owner.parent(str(table["id"])),
            {"id": field_id, "name": key, "value": dict(value)},
        )
        self.update(parent, **{table_field: {"id": table["id"], "size": str(int(str(table["size"])) + 1)}})

    def table_update(self, field_object: ObjectState, **changes: object) -> None:
        value = dict(_mapping(field_object.contents["value"]))
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
            kind = ChangeKind.CREATED if before is None else ChangeKind.MUTATED
            changes.append(ObjectChange(kind, object_id, before, after))
        return Effects(lamport, tuple(changes), tuple(self._events))


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a Move struct value, got {value!r}")
    return value


def _int(value: object) -> int:
    return int(str(value))


def _abort(function: str, name: str, detail: str) -> MoveAbort:
    return MoveAbort(function, ABORTS[name], detail)


# --- staking ------------------------------------------------------------------------------


def _min_stake(role: int, function: str) -> int:
    try:
        return Role(role).minimum_mist
    except ValueError:
        raise _abort(function, "EInvalidRole", f"role {role} is not 0 (user), 1 (node) or 2 (admin)") from None


def _stake(tx: _Tx, args: Mapping[str, object]) -> None:
    fn = "stake"
    pkg = tx.package
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=True)
    role, amount, node_name = int(str(args["role"])), _int(args["amount"]), str(args["node_name"])
    if role > Role.ADMIN:
        raise _abort(fn, "EInvalidRole", f"role {role} is not 0 (user), 1 (node) or 2 (admin)")
    minimum = _min_stake(role, fn)
    if amount < minimum:
        raise _abort(
            fn, "EBelowMinimum", f"{amount} MIST is below the {Role(role).name.lower()} minimum of {minimum} MIST"
        )
    if role == Role.NODE and not node_name:
        raise _abort(fn, "ENodeNameRequired", "a node stake needs a node name")
    if role != Role.NODE and node_name:
        raise _abort(fn, "ENodeNameNotAllowed", "only a node stake may carry a node name")

    owner, now = tx.ctx.sender, tx.ctx.timestamp_ms
    record_id = tx.fresh_id()
    tx.create(
        record_id,
        pkg.stake_record,
        Owner.account(owner),
        {
            "id": record_id,
            "owner": owner,
            "role": role,
            "amount": str(amount),
            "node_name": node_name,
            "staked_at_ms": str(now),
        },
    )
    pool = tx.update(pool, balance=str(_int(pool.contents["balance"]) + amount))
    tx.table_add(
        pool,
        "entries",
        ID_TYPE,
        record_id,
        pkg.stake_entry,
        {
            "owner": owner,
            "role": role,
            "amount": str(amount),
            "node_name": node_name,
            "status": int(StakeStatus.ACTIVE),
            "unstake_requested_at_ms": "0",
        },
    )
    tx.emit(
        STAKING,
        "Staked",
        {
            "record_id": record_id,
            "owner": owner,
            "role": role,
            "amount": str(amount),
            "node_name": node_name,
            "staked_at_ms": str(now),
        },
    )


def _entry(tx: _Tx, pool: ObjectState, record_id: str, fn: str) -> ObjectState:
    entry = tx.table_get(_mapping(pool.contents["entries"]), ID_TYPE, record_id)
    if entry is None:
        raise _abort(fn, "EUnknownStake", f"the pool has no stake entry for record {record_id}")
    return entry


def _request_unstake(tx: _Tx, args: Mapping[str, object]) -> None:
    fn = "request_unstake"
    pkg = tx.package
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=True)
    record = tx.owned_input(str(args["record"]), pkg.stake_record, "stake record")
    entry = _entry(tx, pool, record.object_id, fn)
    value = _mapping(entry.contents["value"])
    if value["status"] != StakeStatus.ACTIVE:
        raise _abort(
            fn, "ENotActive", f"stake {record.object_id} is {StakeStatus(int(str(value['status']))).name.lower()}"
        )
    now = tx.ctx.timestamp_ms
    tx.table_update(entry, status=int(StakeStatus.UNSTAKING), unstake_requested_at_ms=str(now))
    tx.emit(
        STAKING,
        "UnstakeRequested",
        {
            "record_id": record.object_id,
            "owner": value["owner"],
            "amount": value["amount"],
            "available_at_ms": str(now + _int(pool.contents["cooldown_ms"])),
        },
    )


def _payout(tx: _Tx, pool: ObjectState, amount: int) -> None:
    coin_id = tx.fresh_id()
    tx.create(
        coin_id,
        coin_type(),
        Owner.account(tx.ctx.sender),
        {"id": coin_id, "balance": str(amount)},
        public_transfer=True,
    )
    pool = tx.current(pool)
    tx.update(pool, balance=str(_int(pool.contents["balance"]) - amount))


def _withdraw(tx: _Tx, args: Mapping[str, object]) -> None:
    fn = "withdraw"
    pkg = tx.package
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=True)
    record = tx.owned_input(str(args["record"]), pkg.stake_record, "stake record")
    entry = _entry(tx, pool, record.object_id, fn)
    value = _mapping(entry.contents["value"])
    if value["status"] != StakeStatus.UNSTAKING:
        raise _abort(fn, "ENotUnstaking", f"stake {record.object_id} has no unstake request")
    available = _int(value["unstake_requested_at_ms"]) + _int(pool.contents["cooldown_ms"])
    if tx.ctx.timestamp_ms < available:
        raise _abort(
            fn,
            "ECooldownNotElapsed",
            f"stake {record.object_id} can be withdrawn at {available} ms, it is {tx.ctx.timestamp_ms} ms",
        )
    amount = _int(value["amount"])
    tx.table_update(entry, amount="0", status=int(StakeStatus.WITHDRAWN))
    tx.delete(record)
    _payout(tx, pool, amount)
    tx.emit(STAKING, "Withdrawn", {"record_id": record.object_id, "owner": value["owner"], "amount": str(amount)})


def _admin_cap(tx: _Tx, args: Mapping[str, object]) -> ObjectState:
    return tx.owned_input(str(args["cap"]), tx.package.admin_cap, "admin capability")


def _slash(tx: _Tx, args: Mapping[str, object]) -> None:
    fn = "slash"
    pkg = tx.package
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=True)
    _admin_cap(tx, args)
    record_id, amount = str(args["record_id"]), _int(args["amount"])
    entry = _entry(tx, pool, record_id, fn)
    value = _mapping(entry.contents["value"])
    if value["status"] == StakeStatus.WITHDRAWN:
        raise _abort(fn, "ENotActive", f"stake {record_id} is withdrawn")
    held = _int(value["amount"])
    if not 0 < amount <= held:
        raise _abort(
            fn, "EInvalidSlashAmount", f"slash amount {amount} MIST must be 1..{held} (the stake holds {held})"
        )
    remaining = held - amount
    tx.table_update(entry, amount=str(remaining))
    _payout(tx, pool, amount)
    tx.emit(
        STAKING,
        "Slashed",
        {
            "record_id": record_id,
            "owner": value["owner"],
            "amount": str(amount),
            "remaining": str(remaining),
            "reason": args["reason"],
            "role": value["role"],
            "node_name": value["node_name"],
        },
    )


def _set_cooldown(tx: _Tx, args: Mapping[str, object]) -> None:
    pool = tx.shared_input(tx.deployment.pool_id, tx.package.staking_pool, mutable=True)
    _admin_cap(tx, args)
    tx.update(pool, cooldown_ms=str(_int(args["cooldown_ms"])))


# --- k8s_gateway --------------------------------------------------------------------------


def valid_permission(permission: str) -> bool:
    """``k8s_gateway::valid_permission``: 1..128 UTF-8 bytes, exactly one ``:`` with both sides
    non-empty, and no ASCII whitespace byte (0x09-0x0D, 0x20); other Unicode spaces pass, as in Move."""
    data = permission.encode("utf-8")
    if not 0 < len(data) <= MAX_PERMISSION_BYTES:
        return False
    if any(b == 0x20 or 0x09 <= b <= 0x0D for b in data):
        return False
    return data.count(b":") == 1 and 0 < data.index(b":") < len(data) - 1


def _issue_seal_token(tx: _Tx, args: Mapping[str, object]) -> None:
    fn = "issue_seal_token"
    pkg = tx.package
    gateway = tx.shared_input(tx.deployment.gateway_id, pkg.gateway, mutable=True)
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=False)
    record = tx.owned_input(str(args["record"]), pkg.stake_record, "stake record")
    permissions = [str(p) for p in _list(args["permissions"])]
    expires_in_ms = _int(args["expires_in_ms"])
    role = int(str(record.contents["role"]))
    if role == Role.NODE:
        raise _abort(
            fn, "EWrongRole", f"stake {record.object_id} is a node stake; Seal tokens need a user or admin stake"
        )
    entry = tx.table_get(_mapping(pool.contents["entries"]), ID_TYPE, record.object_id)
    value = _mapping(entry.contents["value"]) if entry is not None else None
    if (
        value is None
        or value["status"] != StakeStatus.ACTIVE
        or _int(value["amount"]) < Role(int(str(value["role"]))).minimum_mist
    ):
        raise _abort(fn, "EInsufficientStake", f"stake {record.object_id} is not active at or above its role minimum")
    if not 0 < expires_in_ms <= MAX_TOKEN_LIFETIME_MS:
        raise _abort(fn, "EInvalidExpiry", f"expiry {expires_in_ms} ms must be 1..{MAX_TOKEN_LIFETIME_MS} (one year)")
    if not permissions:
        raise _abort(fn, "EInvalidPermission", "a Seal token needs at least one permission")
    for permission in permissions:
        if not valid_permission(permission):
            raise _abort(
                fn,
                "EInvalidPermission",
                f"permission {permission!r} is not resource:verb (no whitespace, at most {MAX_PERMISSION_BYTES} bytes)",
            )
    owner, now = tx.ctx.sender, tx.ctx.timestamp_ms
    expires_at = now + expires_in_ms
    token_id = tx.fresh_id()
    tx.create(
        token_id,
        pkg.seal_token,
        Owner.account(owner),
        {
            "id": token_id,
            "owner": owner,
            "stake_record": record.object_id,
            "permissions": permissions,
            "issued_at_ms": str(now),
            "expires_at_ms": str(expires_at),
        },
    )
    tx.table_add(
        gateway,
        "tokens",
        ID_TYPE,
        token_id,
        pkg.token_entry,
        {"owner": owner, "stake_record": record.object_id, "expires_at_ms": str(expires_at), "revoked": False},
    )
    tx.emit(
        GATEWAY,
        "SealTokenIssued",
        {
            "token_id": token_id,
            "owner": owner,
            "stake_record": record.object_id,
            "permissions": permissions,
            "expires_at_ms": str(expires_at),
        },
    )


def _list(value: object) -> Sequence[object]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value


def _revoke(tx: _Tx, fn: str, token_id: str, *, admin: bool) -> None:
    gateway = tx.shared_input(tx.deployment.gateway_id, tx.package.gateway, mutable=True)
    entry = tx.table_get(_mapping(gateway.contents["tokens"]), ID_TYPE, token_id)
    if entry is None:
        raise _abort(fn, "EUnknownToken", f"the gateway has no Seal token {token_id}")
    value = _mapping(entry.contents["value"])
    if not admin and value["owner"] != tx.ctx.sender:
        raise _abort(fn, "ENotAuthorized", f"only the owner {value['owner']} may revoke Seal token {token_id}")
    if value["revoked"] is True:
        raise _abort(fn, "EAlreadyRevoked", f"Seal token {token_id} is already revoked")
    tx.table_update(entry, revoked=True)
    tx.emit(GATEWAY, "SealTokenRevoked", {"token_id": token_id, "owner": value["owner"], "revoked_by": tx.ctx.sender})


def _revoke_seal_token(tx: _Tx, args: Mapping[str, object]) -> None:
    _revoke(tx, "revoke_seal_token", str(args["token_id"]), admin=False)


def _admin_revoke_seal_token(tx: _Tx, args: Mapping[str, object]) -> None:
    _admin_cap(tx, args)
    _revoke(tx, "admin_revoke_seal_token", str(args["token_id"]), admin=True)


def _submit_request(tx: _Tx, args: Mapping[str, object]) -> None:
    fn = "submit_request"
    gateway = tx.shared_input(tx.deployment.gateway_id, tx.package.gateway, mutable=True)
    method, path, payload = str(args["method"]), str(args["path"]), str(args["payload"])
    if method not in REQUEST_METHODS:
        raise _abort(fn, "EInvalidRequest", f"method {method!r} is not one of {', '.join(sorted(REQUEST_METHODS))}")
    if not path.startswith("/"):
        raise _abort(fn, "EInvalidRequest", f"path {path!r} does not start with /")
    request_id = _int(gateway.contents["next_request_id"])
    tx.update(gateway, next_request_id=str(request_id + 1))
    tx.emit(
        GATEWAY,
        "K8sAPIRequest",
        {"request_id": str(request_id), "sender": tx.ctx.sender, "method": method, "path": path, "payload": payload},
    )


def _store_k8s_response(tx: _Tx, args: Mapping[str, object]) -> None:
    fn = "store_k8s_response"
    pkg = tx.package
    gateway = tx.shared_input(tx.deployment.gateway_id, pkg.gateway, mutable=True)
    _admin_cap(tx, args)
    request_id, status_code = _int(args["request_id"]), int(str(args["status_code"]))
    if not 0 < request_id < _int(gateway.contents["next_request_id"]):
        raise _abort(fn, "EUnknownRequest", f"request {request_id} was never submitted")
    responses = _mapping(gateway.contents["responses"])
    if tx.table_get(responses, U64, str(request_id)) is not None:
        raise _abort(fn, "EResponseExists", f"request {request_id} already has a response")
    tx.table_add(
        gateway,
        "responses",
        U64,
        str(request_id),
        pkg.k8s_response,
        {
            "request_id": str(request_id),
            "status_code": status_code,
            "body_digest": args["body_digest"],
            "body": args["body"],
            "responder": tx.ctx.sender,
            "stored_at_ms": str(tx.ctx.timestamp_ms),
        },
    )
    tx.emit(
        GATEWAY,
        "K8sResponseStored",
        {"request_id": str(request_id), "status_code": status_code, "body_digest": args["body_digest"]},
    )


_FUNCTIONS: Final[Mapping[tuple[str, str], Callable[[_Tx, Mapping[str, object]], None]]] = {
    (STAKING, "stake"): _stake,
    (STAKING, "request_unstake"): _request_unstake,
    (STAKING, "withdraw"): _withdraw,
    (STAKING, "slash"): _slash,
    (STAKING, "set_cooldown"): _set_cooldown,
    (GATEWAY, "issue_seal_token"): _issue_seal_token,
    (GATEWAY, "revoke_seal_token"): _revoke_seal_token,
    (GATEWAY, "admin_revoke_seal_token"): _admin_revoke_seal_token,
    (GATEWAY, "submit_request"): _submit_request,
    (GATEWAY, "store_k8s_response"): _store_k8s_response,
}


def execute(reader: StateReader, deployment: Deployment, call: Call, ctx: TxContext) -> Effects:
    """Run one entry-function call. Raises ``InvalidTransaction`` or ``MoveAbort``; writes nothing."""
    args = decode_arguments(call)
    tx = _Tx(reader, deployment, ctx, call)
    _FUNCTIONS[(call.module, call.function)](tx, args)
    return tx.effects()


# --- genesis ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Genesis:
    deployment: Deployment
    effects: Effects


def genesis(package_id: str, admin: str, ctx_digest: bytes) -> Genesis:
    """Publishing the package: the package object, then both modules' ``init``.

    ``staking::init`` sends the AdminCap to the publisher and shares the StakingPool;
    ``k8s_gateway::init`` shares the Gateway. Everything starts at version 1.
    """
    package = Package(package_id)
    admin = canonical_address(admin)
    # In init order: AdminCap, StakingPool and its table, then Gateway and its two tables.
    cap_id, pool_id, entries_id, gateway_id, tokens_id, responses_id = (
        derive_object_id(ctx_digest, n) for n in range(6)
    )
    shared = Owner.shared(1)
    created = [
        ObjectState(package.package_id, 1, None, Owner.immutable(), {"modules": list(MODULES)}),
        ObjectState(cap_id, 1, package.admin_cap, Owner.account(admin), {"id": cap_id}, has_public_transfer=True),
        ObjectState(
            pool_id,
            1,
            package.staking_pool,
            shared,
            {
                "id": pool_id,
                "balance": "0",
                "entries": {"id": entries_id, "size": "0"},
                "cooldown_ms": str(DEFAULT_COOLDOWN_MS),
            },
        ),
        ObjectState(
            gateway_id,
            1,
            package.gateway,
            shared,
            {
                "id": gateway_id,
                "tokens": {"id": tokens_id, "size": "0"},
                "responses": {"id": responses_id, "size": "0"},
                "next_request_id": "1",
            },
        ),
    ]
    changes = tuple(ObjectChange(ChangeKind.CREATED, s.object_id, None, s) for s in created)
    deployment = Deployment(package=package, pool_id=pool_id, gateway_id=gateway_id, admin=admin)
    return Genesis(deployment, Effects(1, changes, ()))
