"""The entry functions of contracts/sources as pure functions of (state, call, time).

``execute`` reads the live objects through a ``StateReader`` and returns the ``Effects`` (object
changes with their new versions, events) or raises ``MoveAbort`` / ``InvalidTransaction``; it
writes nothing. The checks run in the order the Move code runs them, so the abort code for an
input that breaks several rules is the same on both sides (the scenario vectors pin this).

Transaction-level behaviour of Sui is reproduced too (``transaction.Tx``): an owned input must
belong to the sender and have the declared type, every owned input and every mutable shared input
gets the transaction's lamport version, objects read at run time (table entries) count for that
version. This module holds ``staking`` and ``k8s_gateway``; the ``enclave`` module is ``enclave.py``,
the argument parsers ``arguments.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from k3s_daas.chain.models import StakeStatus
from k3s_daas.enclave.errors import EnclaveSignatureError
from k3s_daas.localnet import arguments, enclave
from k3s_daas.localnet.move import ID_TYPE, U64, canonical_address, coin_type, derive_object_id
from k3s_daas.localnet.package import (
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
    InvalidTransaction,
    ObjectChange,
    ObjectState,
    Owner,
    StateReader,
    TxContext,
)
from k3s_daas.localnet.transaction import Tx, abort, as_int, as_struct
from k3s_daas.onchain_requests import signing
from k3s_daas.stake import Role

U64_MAX: Final = 2**64 - 1

# Parameters by entry function, without the shared objects, the clock and the context (localnet
# supplies those). ``amount`` of ``stake`` is the value of the coin localnet mints for the call.
SIGNATURES: Final[Mapping[tuple[str, str], Mapping[str, arguments.Parser]]] = {
    (STAKING, "stake"): {"amount": arguments.U64, "role": arguments.U8, "node_name": arguments.string},
    (STAKING, "request_unstake"): {"record": arguments.object_id},
    (STAKING, "withdraw"): {"record": arguments.object_id},
    (STAKING, "slash"): {
        "cap": arguments.object_id,
        "record_id": arguments.object_id,
        "amount": arguments.U64,
        "reason": arguments.string,
    },
    (STAKING, "set_cooldown"): {"cap": arguments.object_id, "cooldown_ms": arguments.U64},
    (GATEWAY, "issue_seal_token"): {
        "record": arguments.object_id,
        "permissions": arguments.strings,
        "expires_in_ms": arguments.U64,
    },
    (GATEWAY, "revoke_seal_token"): {"token_id": arguments.object_id},
    (GATEWAY, "admin_revoke_seal_token"): {"cap": arguments.object_id, "token_id": arguments.object_id},
    (GATEWAY, "submit_request"): {"method": arguments.string, "path": arguments.string, "payload": arguments.string},
    (GATEWAY, "store_k8s_response"): {
        "enclave": arguments.object_id,
        "request_id": arguments.U64,
        "status_code": arguments.U16,
        "body_digest": arguments.bytes_b64,
        "body": arguments.string,
        "signed_at_ms": arguments.U64,
        "signature": arguments.bytes_b64,
    },
    **enclave.SIGNATURES,
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


# --- staking ------------------------------------------------------------------------------


def _min_stake(role: int, function: str) -> int:
    try:
        return Role(role).minimum_mist
    except ValueError:
        raise abort(function, "EInvalidRole", f"role {role} is not 0 (user), 1 (node) or 2 (admin)") from None


def _stake(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "stake"
    pkg = tx.package
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=True)
    role, amount, node_name = int(str(args["role"])), as_int(args["amount"]), str(args["node_name"])
    if role > Role.ADMIN:
        raise abort(fn, "EInvalidRole", f"role {role} is not 0 (user), 1 (node) or 2 (admin)")
    minimum = _min_stake(role, fn)
    if amount < minimum:
        raise abort(
            fn, "EBelowMinimum", f"{amount} MIST is below the {Role(role).name.lower()} minimum of {minimum} MIST"
        )
    if role == Role.NODE and not node_name:
        raise abort(fn, "ENodeNameRequired", "a node stake needs a node name")
    if role != Role.NODE and node_name:
        raise abort(fn, "ENodeNameNotAllowed", "only a node stake may carry a node name")

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
    balance = as_int(pool.contents["balance"]) + amount
    if balance > U64_MAX:
        # Move's balance::join fails with an arithmetic error here. On Sui it cannot happen (the total
        # supply, 10^19 MIST, fits in a u64); localnet mints each stake's coin, so it must refuse.
        raise InvalidTransaction(f"amount {amount}: the staking pool's balance would exceed the u64 maximum")
    pool = tx.update(pool, balance=str(balance))
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


def _entry(tx: Tx, pool: ObjectState, record_id: str, fn: str) -> ObjectState:
    entry = tx.table_get(as_struct(pool.contents["entries"]), ID_TYPE, record_id)
    if entry is None:
        raise abort(fn, "EUnknownStake", f"the pool has no stake entry for record {record_id}")
    return entry


def _request_unstake(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "request_unstake"
    pkg = tx.package
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=True)
    record = tx.owned_input(str(args["record"]), pkg.stake_record, "stake record")
    entry = _entry(tx, pool, record.object_id, fn)
    value = as_struct(entry.contents["value"])
    if value["status"] != StakeStatus.ACTIVE:
        raise abort(
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
            "available_at_ms": str(now + as_int(pool.contents["cooldown_ms"])),
        },
    )


def _payout(tx: Tx, pool: ObjectState, amount: int) -> None:
    coin_id = tx.fresh_id()
    tx.create(
        coin_id,
        coin_type(),
        Owner.account(tx.ctx.sender),
        {"id": coin_id, "balance": str(amount)},
        public_transfer=True,
    )
    pool = tx.current(pool)
    tx.update(pool, balance=str(as_int(pool.contents["balance"]) - amount))


def _withdraw(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "withdraw"
    pkg = tx.package
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=True)
    record = tx.owned_input(str(args["record"]), pkg.stake_record, "stake record")
    entry = _entry(tx, pool, record.object_id, fn)
    value = as_struct(entry.contents["value"])
    if value["status"] != StakeStatus.UNSTAKING:
        raise abort(fn, "ENotUnstaking", f"stake {record.object_id} has no unstake request")
    available = as_int(value["unstake_requested_at_ms"]) + as_int(pool.contents["cooldown_ms"])
    if tx.ctx.timestamp_ms < available:
        raise abort(
            fn,
            "ECooldownNotElapsed",
            f"stake {record.object_id} can be withdrawn at {available} ms, it is {tx.ctx.timestamp_ms} ms",
        )
    amount = as_int(value["amount"])
    tx.table_update(entry, amount="0", status=int(StakeStatus.WITHDRAWN))
    tx.delete(record)
    _payout(tx, pool, amount)
    tx.emit(STAKING, "Withdrawn", {"record_id": record.object_id, "owner": value["owner"], "amount": str(amount)})


def _admin_cap(tx: Tx, args: Mapping[str, object]) -> ObjectState:
    return tx.admin_cap(str(args["cap"]))


def _slash(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "slash"
    pkg = tx.package
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=True)
    _admin_cap(tx, args)
    record_id, amount = str(args["record_id"]), as_int(args["amount"])
    entry = _entry(tx, pool, record_id, fn)
    value = as_struct(entry.contents["value"])
    if value["status"] == StakeStatus.WITHDRAWN:
        raise abort(fn, "ENotActive", f"stake {record_id} is withdrawn")
    held = as_int(value["amount"])
    if not 0 < amount <= held:
        raise abort(fn, "EInvalidSlashAmount", f"slash amount {amount} MIST must be 1..{held} (the stake holds {held})")
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


def _set_cooldown(tx: Tx, args: Mapping[str, object]) -> None:
    pool = tx.shared_input(tx.deployment.pool_id, tx.package.staking_pool, mutable=True)
    _admin_cap(tx, args)
    tx.update(pool, cooldown_ms=str(as_int(args["cooldown_ms"])))


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


def _issue_seal_token(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "issue_seal_token"
    pkg = tx.package
    gateway = tx.shared_input(tx.deployment.gateway_id, pkg.gateway, mutable=True)
    pool = tx.shared_input(tx.deployment.pool_id, pkg.staking_pool, mutable=False)
    record = tx.owned_input(str(args["record"]), pkg.stake_record, "stake record")
    permissions = [str(p) for p in _list(args["permissions"])]
    expires_in_ms = as_int(args["expires_in_ms"])
    role = int(str(record.contents["role"]))
    if role == Role.NODE:
        raise abort(
            fn, "EWrongRole", f"stake {record.object_id} is a node stake; Seal tokens need a user or admin stake"
        )
    entry = tx.table_get(as_struct(pool.contents["entries"]), ID_TYPE, record.object_id)
    value = as_struct(entry.contents["value"]) if entry is not None else None
    if (
        value is None
        or value["status"] != StakeStatus.ACTIVE
        or as_int(value["amount"]) < Role(int(str(value["role"]))).minimum_mist
    ):
        raise abort(fn, "EInsufficientStake", f"stake {record.object_id} is not active at or above its role minimum")
    if not 0 < expires_in_ms <= MAX_TOKEN_LIFETIME_MS:
        raise abort(fn, "EInvalidExpiry", f"expiry {expires_in_ms} ms must be 1..{MAX_TOKEN_LIFETIME_MS} (one year)")
    if not permissions:
        raise abort(fn, "EInvalidPermission", "a Seal token needs at least one permission")
    for permission in permissions:
        if not valid_permission(permission):
            raise abort(
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


def _revoke(tx: Tx, fn: str, token_id: str, *, admin: bool) -> None:
    gateway = tx.shared_input(tx.deployment.gateway_id, tx.package.gateway, mutable=True)
    entry = tx.table_get(as_struct(gateway.contents["tokens"]), ID_TYPE, token_id)
    if entry is None:
        raise abort(fn, "EUnknownToken", f"the gateway has no Seal token {token_id}")
    value = as_struct(entry.contents["value"])
    if not admin and value["owner"] != tx.ctx.sender:
        raise abort(fn, "ENotAuthorized", f"only the owner {value['owner']} may revoke Seal token {token_id}")
    if value["revoked"] is True:
        raise abort(fn, "EAlreadyRevoked", f"Seal token {token_id} is already revoked")
    tx.table_update(entry, revoked=True)
    tx.emit(GATEWAY, "SealTokenRevoked", {"token_id": token_id, "owner": value["owner"], "revoked_by": tx.ctx.sender})


def _revoke_seal_token(tx: Tx, args: Mapping[str, object]) -> None:
    _revoke(tx, "revoke_seal_token", str(args["token_id"]), admin=False)


def _admin_revoke_seal_token(tx: Tx, args: Mapping[str, object]) -> None:
    _admin_cap(tx, args)
    _revoke(tx, "admin_revoke_seal_token", str(args["token_id"]), admin=True)


def _submit_request(tx: Tx, args: Mapping[str, object]) -> None:
    fn = "submit_request"
    gateway = tx.shared_input(tx.deployment.gateway_id, tx.package.gateway, mutable=True)
    method, path, payload = str(args["method"]), str(args["path"]), str(args["payload"])
    if method not in REQUEST_METHODS:
        raise abort(fn, "EInvalidRequest", f"method {method!r} is not one of {', '.join(sorted(REQUEST_METHODS))}")
    if not path.startswith("/"):
        raise abort(fn, "EInvalidRequest", f"path {path!r} does not start with /")
    request_id = as_int(gateway.contents["next_request_id"])
    tx.update(gateway, next_request_id=str(request_id + 1))
    tx.emit(
        GATEWAY,
        "K8sAPIRequest",
        {"request_id": str(request_id), "sender": tx.ctx.sender, "method": method, "path": path, "payload": payload},
    )


def _store_k8s_response(tx: Tx, args: Mapping[str, object]) -> None:
    """Anybody relays an enclave-signed response; the signature of a current enclave is what counts."""
    fn = "store_k8s_response"
    pkg = tx.package
    gateway = tx.shared_input(tx.deployment.gateway_id, pkg.gateway, mutable=True)
    config = enclave.config_input(tx)
    registered = tx.shared_input(str(args["enclave"]), pkg.enclave, mutable=False)
    request_id, status_code = as_int(args["request_id"]), int(str(args["status_code"]))
    if not 0 < request_id < as_int(gateway.contents["next_request_id"]):
        raise abort(fn, "EUnknownRequest", f"request {request_id} was never submitted")
    responses = as_struct(gateway.contents["responses"])
    if tx.table_get(responses, U64, str(request_id)) is not None:
        raise abort(fn, "EResponseExists", f"request {request_id} already has a response")
    digest, body = base64.b64decode(str(args["body_digest"])), str(args["body"])
    if not signing.valid_body_digest(body, digest):
        raise abort(
            fn, "EInvalidBodyDigest", "the body digest is not 32 bytes, or not the SHA-256 of the body given on chain"
        )
    if not enclave.is_current(config, registered):
        raise abort(
            fn, "EEnclaveNotCurrent", f"enclave {registered.object_id} was registered under PCRs since replaced"
        )
    signed_at_ms, signature = as_int(args["signed_at_ms"]), base64.b64decode(str(args["signature"]))
    public_key = base64.b64decode(str(registered.contents["public_key"]))
    try:
        signing.verify_response_signature(public_key, request_id, status_code, digest, signed_at_ms, signature)
    except EnclaveSignatureError as error:
        raise abort(
            fn, "EInvalidResponseSignature", f"not enclave {registered.object_id}'s response: {error}"
        ) from None
    signed = {
        "enclave_id": registered.object_id,
        "signed_at_ms": str(signed_at_ms),
        "signature": args["signature"],
    }
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
            "body": body,
            **signed,
            "responder": tx.ctx.sender,
            "stored_at_ms": str(tx.ctx.timestamp_ms),
        },
    )
    tx.emit(
        GATEWAY,
        "K8sResponseStored",
        {"request_id": str(request_id), "status_code": status_code, "body_digest": args["body_digest"], **signed},
    )


_FUNCTIONS: Final[Mapping[tuple[str, str], Callable[[Tx, Mapping[str, object]], None]]] = {
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
    **enclave.FUNCTIONS,
}


def execute(reader: StateReader, deployment: Deployment, call: Call, ctx: TxContext) -> Effects:
    """Run one entry-function call. Raises ``InvalidTransaction`` or ``MoveAbort``; writes nothing."""
    args = decode_arguments(call)
    tx = Tx(reader, deployment, ctx, call)
    _FUNCTIONS[(call.module, call.function)](tx, args)
    return tx.effects()


# --- genesis ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Genesis:
    deployment: Deployment
    effects: Effects


def genesis(package_id: str, admin: str, ctx_digest: bytes) -> Genesis:
    """Publishing the package: the package object, then its modules' ``init``.

    ``staking::init`` sends the AdminCap to the publisher and shares the StakingPool;
    ``k8s_gateway::init`` shares the Gateway; ``enclave::init`` shares the EnclaveConfig.
    Everything starts at version 1.
    """
    package = Package(package_id)
    admin = canonical_address(admin)
    # In init order: AdminCap, StakingPool and its table, Gateway and its two tables, EnclaveConfig.
    cap_id, pool_id, entries_id, gateway_id, tokens_id, responses_id, config_id = (
        derive_object_id(ctx_digest, n) for n in range(7)
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
        enclave.initial_config(config_id, package, 1),
    ]
    changes = tuple(ObjectChange(ChangeKind.CREATED, s.object_id, None, s) for s in created)
    deployment = Deployment(
        package=package, pool_id=pool_id, gateway_id=gateway_id, admin=admin, enclave_config_id=config_id
    )
    return Genesis(deployment, Effects(1, changes, ()))


def add_enclave_module(package_object: ObjectState, package: Package, ctx_digest: bytes, version: int) -> Effects:
    """For a chain published before the ``enclave`` module: the package lists the module and
    ``enclave::init`` shares the EnclaveConfig, in one system transaction at ``version``.

    (A real network would publish an upgraded package under a new id; localnet keeps its one id,
    so that every configured package id stays valid.)
    """
    config = enclave.initial_config(derive_object_id(ctx_digest, 0), package, version)
    upgraded = ObjectState(
        package_object.object_id,
        version,
        None,
        package_object.owner,
        {**package_object.contents, "modules": list(MODULES)},
    )
    changes = (
        ObjectChange(ChangeKind.MUTATED, upgraded.object_id, package_object, upgraded),
        ObjectChange(ChangeKind.CREATED, config.object_id, None, config),
    )
    return Effects(version, changes, ())
