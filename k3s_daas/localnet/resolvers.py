"""Resolvers that answer the localnet GraphQL schema from one ``ReadView`` snapshot.

Sources are small node classes around stored rows; resolvers are attached to the schema built
from the SDL, so the SDL stays a verbatim subset of Sui's and the behaviour lives here.
Bad input (cursors, page sizes, filters, addresses) raises ``GraphQLError`` with the
``BAD_USER_INPUT`` code, as Sui's service does; the query's other fields still resolve.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
)

from k3s_daas.localnet.move import (
    SUI_FRAMEWORK,
    MoveTypeError,
    TypeTag,
    address_bytes,
    base58_decode,
    canonical_address,
    derive_dynamic_field_id,
)
from k3s_daas.localnet.schema import build_sdl_schema
from k3s_daas.localnet.state import ObjectState, OwnerKind
from k3s_daas.localnet.store import (
    PageRequest,
    PageRows,
    ReadView,
    StoredChange,
    StoredEvent,
    StoredObject,
    StoredTransaction,
)
from k3s_daas.sui import bcs

Info: TypeAlias = "GraphQLResolveInfo[Any]"

DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 50
MAX_MULTI_GET_SIZE: Final = 200
PROTOCOL_VERSION: Final = 1
REFERENCE_GAS_PRICE: Final = "1000"
_MAX_UINT53: Final = 2**53 - 1

SERVICE_CONFIG: Final[Mapping[str, int]] = {
    "maxMoveValueDepth": 128,
    "maxMultiGetSize": MAX_MULTI_GET_SIZE,
    "maxOutputNodes": 100_000,
    "maxQueryDepth": 30,
    "maxQueryNodes": 500,
    "maxQueryPayloadSize": 1_048_576,
    "maxTransactionPayloadSize": 0,
    "maxTypeArgumentDepth": 16,
    "maxTypeArgumentWidth": 32,
    "maxTypeNodes": 256,
    "mutationTimeoutMs": 0,
    "queryTimeoutMs": 30_000,
}


def bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


# --- scalars ------------------------------------------------------------------------------


def _parse_address(value: object) -> str:
    if not isinstance(value, str):
        raise bad_input(f"Invalid SuiAddress: expected a string, got {value!r}")
    try:
        return canonical_address(value)
    except MoveTypeError as error:
        raise bad_input(f"Invalid SuiAddress: {error}") from None


def _parse_uint53(value: object) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_UINT53:
        raise bad_input(f"Invalid UInt53: {value!r} is not an integer from 0 to 2^53 - 1")
    return value


def _parse_base64(value: object) -> str:
    if not isinstance(value, str):
        raise bad_input("Invalid Base64: expected a string")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_input(f"Invalid Base64: {value!r}") from None
    return value


def _parse_string_scalar(value: object) -> object:
    if not isinstance(value, str):
        raise bad_input(f"expected a string, got {value!r}")
    return value


def _datetime(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _install_scalars(schema: GraphQLSchema) -> None:
    def install(name: str, out: Callable[[Any], Any], parse: Callable[[Any], Any]) -> None:
        scalar = schema.get_type(name)
        assert isinstance(scalar, GraphQLScalarType)
        # graphql-core 3.3 reads coerce_*; older code paths still call serialize/parse_value.
        for name, function in (
            ("coerce_output_value", out),
            ("serialize", out),
            ("coerce_input_value", parse),
            ("parse_value", parse),
        ):
            setattr(scalar, name, function)

    install("SuiAddress", str, _parse_address)
    install("UInt53", int, _parse_uint53)
    install("Base64", str, _parse_base64)
    install("BigInt", str, _parse_string_scalar)
    install("DateTime", str, _parse_string_scalar)
    install("JSON", lambda value: value, lambda value: value)
    install("MoveTypeSignature", lambda value: value, lambda value: value)


# --- paging -------------------------------------------------------------------------------


def encode_cursor(kind: str, key: Sequence[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, *key], separators=(",", ":")).encode()).decode()


def decode_cursor(kind: str, cursor: str, types: Sequence[type]) -> tuple[object, ...]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_input(f"Invalid cursor: {cursor!r}") from None
    if (
        not isinstance(value, list)
        or len(value) != len(types) + 1
        or value[0] != kind
        or not all(isinstance(part, t) and not isinstance(part, bool) for part, t in zip(value[1:], types, strict=True))
    ):
        raise bad_input(f"Invalid cursor: {cursor!r} is not a cursor of this connection")
    return tuple(value[1:])


def page_request(kind: str, types: Sequence[type], args: Mapping[str, Any]) -> PageRequest:
    first, last = args.get("first"), args.get("last")
    if first is not None and last is not None:
        raise bad_input("'first' and 'last' cannot both be given")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise bad_input(f"Connection's page size of {size} ('{name}') is not between 0 and {MAX_PAGE_SIZE}")
    after = None if args.get("after") is None else decode_cursor(kind, args["after"], types)
    before = None if args.get("before") is None else decode_cursor(kind, args["before"], types)
    if last is not None:
        return PageRequest(last, after, before, backward=True)
    return PageRequest(DEFAULT_PAGE_SIZE if first is None else first, after, before)


@dataclass(frozen=True, slots=True)
class Connection:
    nodes: list[object]
    cursors: list[str]
    has_previous: bool
    has_next: bool

    def edges(self) -> list[dict[str, object]]:
        return [{"cursor": c, "node": n} for c, n in zip(self.cursors, self.nodes, strict=True)]

    def page_info(self) -> dict[str, object]:
        return {
            "hasNextPage": self.has_next,
            "hasPreviousPage": self.has_previous,
            "startCursor": self.cursors[0] if self.cursors else None,
            "endCursor": self.cursors[-1] if self.cursors else None,
        }


def _connection(
    rows: PageRows, kind: str, key: Callable[[Any], Sequence[object]], node: Callable[[Any], object]
) -> Connection:
    return Connection(
        [node(row) for row in rows.rows],
        [encode_cursor(kind, key(row)) for row in rows.rows],
        rows.has_previous,
        rows.has_next,
    )


# --- nodes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressNode:
    address: str


@dataclass(frozen=True, slots=True)
class ObjectNode:
    stored: StoredObject

    @property
    def state(self) -> ObjectState:
        return self.stored.state


@dataclass(frozen=True, slots=True)
class MoveValueNode:
    type: TypeTag
    value: object


@dataclass(frozen=True, slots=True)
class TransactionNode:
    tx: StoredTransaction


@dataclass(frozen=True, slots=True)
class EventNode:
    event: StoredEvent


@dataclass(frozen=True, slots=True)
class ModuleNode:
    package_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ChangeNode:
    tx_seq: int
    change: StoredChange


@dataclass(frozen=True, slots=True)
class EpochNode:
    epoch_id: int


@dataclass(frozen=True, slots=True)
class ProtocolConfigsNode:
    version: int


def _view(info: Info) -> ReadView:
    view = info.context["view"]
    assert isinstance(view, ReadView)
    return view


# --- object resolvers (Object, MoveObject, DynamicField, MovePackage share them) ----------


def _address(node: Any, _info: Info) -> str:
    if isinstance(node, AddressNode):
        return node.address
    assert isinstance(node, ObjectNode)
    return node.state.object_id


def _node_address(node: Any) -> str:
    return node.address if isinstance(node, AddressNode) else node.state.object_id


def _version(node: ObjectNode, _info: Info) -> int:
    return node.state.version


def _digest(node: ObjectNode, _info: Info) -> str:
    return node.stored.digest


def _storage_rebate(_node: ObjectNode, _info: Info) -> str:
    return "0"


def _owner(node: ObjectNode, _info: Info) -> dict[str, object]:
    owner = node.state.owner
    kind = owner.kind
    if kind is OwnerKind.ADDRESS:
        return {"__typename": "AddressOwner", "address": AddressNode(owner.address)}
    if kind is OwnerKind.OBJECT:
        return {"__typename": "ObjectOwner", "address": AddressNode(owner.address)}
    if kind is OwnerKind.SHARED:
        return {"__typename": "Shared", "initialSharedVersion": owner.initial_shared_version}
    return {"__typename": "Immutable", "_": None}


def _previous_transaction(node: ObjectNode, info: Info) -> TransactionNode | None:
    tx = _view(info).transaction_at(node.stored.tx_seq)
    return None if tx is None else TransactionNode(tx)


def _as_move_object(node: ObjectNode, _info: Info) -> ObjectNode | None:
    return None if node.state.is_package else node


def _as_move_package(node: ObjectNode, _info: Info) -> ObjectNode | None:
    return node if node.state.is_package else None


def _is_field(state: ObjectState) -> bool:
    tag = state.type
    return tag is not None and (tag.address, tag.module, tag.name) == (SUI_FRAMEWORK, "dynamic_field", "Field")


def _as_dynamic_field(node: ObjectNode, _info: Info) -> ObjectNode | None:
    return node if _is_field(node.state) else None


def _contents(node: ObjectNode, _info: Info) -> MoveValueNode | None:
    state = node.state
    return None if state.type is None else MoveValueNode(state.type, dict(state.contents))


def _has_public_transfer(node: ObjectNode, _info: Info) -> bool:
    return node.state.has_public_transfer


def _move_object_bcs(state: ObjectState, view: ReadView) -> bytes:
    """sui-types ``MoveObject``: type, has_public_transfer, version, contents."""
    assert state.type is not None
    tag = state.type
    sui_coin = tag.module == "coin" and tag.name == "Coin" and tag.address == SUI_FRAMEWORK
    if sui_coin and tag.params and tag.params[0].repr() == TypeTag.parse("0x2::sui::SUI").repr():
        object_type = bytes([1])  # MoveObjectType::GasCoin
    elif sui_coin:
        object_type = bytes([3]) + tag.params[0].bcs()  # MoveObjectType::Coin(TypeTag)
    else:
        object_type = bytes([0]) + tag.bcs()[1:]  # MoveObjectType::Other(StructTag)
    contents = view.package.layouts.to_bcs(tag, state.contents)
    return (
        object_type
        + bytes([int(state.has_public_transfer)])
        + struct.pack("<Q", state.version)
        + bcs.uleb128(len(contents))
        + contents
    )


def _owner_bcs(state: ObjectState) -> bytes:
    owner = state.owner
    if owner.kind is OwnerKind.ADDRESS:
        return bytes([0]) + address_bytes(owner.address)
    if owner.kind is OwnerKind.OBJECT:
        return bytes([1]) + address_bytes(owner.address)
    if owner.kind is OwnerKind.SHARED:
        return bytes([2]) + struct.pack("<Q", owner.initial_shared_version)
    return bytes([3])


def _object_bcs(node: ObjectNode, info: Info) -> str | None:
    """sui-types ``Object``: data (Move variant), owner, previous transaction, storage rebate."""
    state = node.state
    if state.is_package:
        return None  # localnet publishes no bytecode
    view = _view(info)
    tx = view.transaction_at(node.stored.tx_seq)
    assert tx is not None
    digest = base58_decode(tx.digest)
    data = (
        bytes([0])
        + _move_object_bcs(state, view)
        + _owner_bcs(state)
        + bcs.uleb128(len(digest))
        + digest
        + struct.pack("<Q", 0)
    )
    return base64.b64encode(data).decode()


def _move_object_bcs_field(node: ObjectNode, info: Info) -> str | None:
    if node.state.is_package:
        return None
    return base64.b64encode(_move_object_bcs(node.state, _view(info))).decode()


def _field_name(node: ObjectNode, _info: Info) -> MoveValueNode | None:
    state = node.state
    if not _is_field(state):
        return None
    assert state.type is not None
    return MoveValueNode(state.type.params[0], state.contents["name"])


def _field_value(node: ObjectNode, _info: Info) -> MoveValueNode | None:
    state = node.state
    if not _is_field(state):
        return None
    assert state.type is not None
    return MoveValueNode(state.type.params[1], state.contents["value"])


def _dynamic_field_value_type(value: object, _info: Info, _type: GraphQLUnionType) -> str:
    return "MoveValue" if isinstance(value, MoveValueNode) else "MoveObject"


def _owner_type(value: Mapping[str, object], _info: Info, _type: GraphQLUnionType) -> str:
    return str(value["__typename"])


def _object_type(value: object, _info: Info, _type: Any) -> str:
    if isinstance(value, AddressNode):
        return "Address"
    assert isinstance(value, ObjectNode)
    if value.state.is_package:
        return "MovePackage"
    return "DynamicField" if _is_field(value.state) else "MoveObject"


def _lookup_field(view: ReadView, parent: str, name: Mapping[str, str]) -> ObjectNode | None:
    try:
        key_type = TypeTag.parse(name["type"])
    except MoveTypeError as error:
        raise bad_input(f"Invalid dynamic field name type: {error}") from None
    key_bcs = base64.b64decode(name["bcs"])
    field_id = derive_dynamic_field_id(parent, key_type, key_bcs)
    stored = view.get_object(field_id)
    if stored is None or not _is_field(stored.state) or stored.state.owner.address != parent:
        return None
    return ObjectNode(stored)


def _dynamic_field(node: Any, info: Info, name: Mapping[str, str]) -> ObjectNode | None:
    return _lookup_field(_view(info), _node_address(node), name)


def _multi_get_dynamic_fields(node: Any, info: Info, keys: Sequence[Mapping[str, str]]) -> list[ObjectNode | None]:
    if len(keys) > MAX_MULTI_GET_SIZE:
        raise bad_input(f"Number of keys ({len(keys)}) exceeds the maximum of {MAX_MULTI_GET_SIZE}")
    view = _view(info)
    parent = _node_address(node)
    return [_lookup_field(view, parent, key) for key in keys]


def _dynamic_fields(node: Any, info: Info, **args: Any) -> Connection:
    page = page_request("df", (str,), args)
    rows = _view(info).objects(page, owner=_node_address(node), owner_kind=OwnerKind.OBJECT)
    return _connection(rows, "df", lambda r: (r["object_id"],), lambda r: ObjectNode(ReadView.object_from_row(r)))


def _owned_objects(node: Any, info: Info, filter: Mapping[str, Any] | None = None, **args: Any) -> Connection:
    page = page_request("obj", (str,), args)
    type_pattern = None if filter is None else filter.get("type")
    rows = _view(info).objects(
        page, owner=_node_address(node), owner_kind=OwnerKind.ADDRESS, type_pattern=_type_pattern(type_pattern)
    )
    return _connection(rows, "obj", lambda r: (r["object_id"],), lambda r: ObjectNode(ReadView.object_from_row(r)))


def _type_pattern(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    parts = pattern.strip().split("::", 2)
    try:
        canonical_address(parts[0])
        if len(parts) == 3 and "<" in parts[2]:
            TypeTag.parse(pattern)
    except MoveTypeError as error:
        raise bad_input(f"Invalid type filter {pattern!r}: {error}") from None
    return pattern


def _module(node: ObjectNode, _info: Info, name: str) -> ModuleNode | None:
    modules = node.state.contents.get("modules", [])
    return ModuleNode(node.state.object_id, name) if isinstance(modules, list) and name in modules else None


# --- MoveValue / MoveType -----------------------------------------------------------------


def _value_json(node: MoveValueNode, _info: Info) -> object:
    return node.value


def _value_bcs(node: MoveValueNode, info: Info) -> str:
    return base64.b64encode(_view(info).package.layouts.to_bcs(node.type, node.value)).decode()


def _value_type(node: MoveValueNode, _info: Info) -> TypeTag:
    return node.type


def _type_repr(tag: TypeTag, _info: Info) -> str:
    return tag.repr()


def _type_signature(tag: TypeTag, _info: Info) -> object:
    return tag.signature()


# --- Query --------------------------------------------------------------------------------


def _q_address(_root: None, _info: Info, address: str, rootVersion: int | None = None) -> AddressNode:
    return AddressNode(address)


def _q_chain_identifier(_root: None, info: Info) -> str:
    return _view(info).info.chain_identifier


def _q_checkpoint(_root: None, info: Info, sequenceNumber: int | None = None) -> StoredTransaction | None:
    view = _view(info)
    return view.latest_transaction() if sequenceNumber is None else view.transaction_at(sequenceNumber)


def _q_epoch(_root: None, _info: Info, epochId: int | None = None) -> EpochNode | None:
    return EpochNode(0) if epochId in (None, 0) else None


def _q_object(
    _root: None,
    info: Info,
    address: str,
    version: int | None = None,
    rootVersion: int | None = None,
    atCheckpoint: int | None = None,
) -> ObjectNode | None:
    if sum(value is not None for value in (version, rootVersion, atCheckpoint)) > 1:
        raise bad_input("Specify at most one of 'version', 'rootVersion', or 'atCheckpoint'")
    stored = _view(info).get_object(address, version=version, root_version=rootVersion, at_checkpoint=atCheckpoint)
    return None if stored is None else ObjectNode(stored)


def _q_multi_get_objects(_root: None, info: Info, keys: Sequence[Mapping[str, Any]]) -> list[ObjectNode | None]:
    if len(keys) > MAX_MULTI_GET_SIZE:
        raise bad_input(f"Number of keys ({len(keys)}) exceeds the maximum of {MAX_MULTI_GET_SIZE}")
    return [
        _q_object(
            None,
            info,
            key["address"],
            version=key.get("version"),
            rootVersion=key.get("rootVersion"),
            atCheckpoint=key.get("atCheckpoint"),
        )
        for key in keys
    ]


def _q_objects(_root: None, info: Info, filter: Mapping[str, Any], **args: Any) -> Connection:
    owner, kind_name, type_pattern = filter.get("owner"), filter.get("ownerKind"), filter.get("type")
    kind = None if kind_name is None else OwnerKind(kind_name.lower())
    if owner is not None and kind is None:
        kind = OwnerKind.ADDRESS
    if kind in (OwnerKind.ADDRESS, OwnerKind.OBJECT) and owner is None:
        raise bad_input(f"Filtering by ownerKind {kind_name} needs an owner")
    if kind in (OwnerKind.SHARED, OwnerKind.IMMUTABLE) and (owner is not None or type_pattern is None):
        raise bad_input(f"Filtering by ownerKind {kind_name} needs a type and no owner")
    if owner is None and type_pattern is None:
        raise bad_input("Filtering objects needs an owner, a type, or both")
    page = page_request("obj", (str,), args)
    rows = _view(info).objects(page, owner=owner, owner_kind=kind, type_pattern=_type_pattern(type_pattern))
    return _connection(rows, "obj", lambda r: (r["object_id"],), lambda r: ObjectNode(ReadView.object_from_row(r)))


def _q_package(
    _root: None,
    info: Info,
    address: str,
    version: int | None = None,
    atCheckpoint: int | None = None,
) -> ObjectNode | None:
    stored = _view(info).get_object(address, version=version, at_checkpoint=atCheckpoint)
    return ObjectNode(stored) if stored is not None and stored.state.is_package else None


def _q_protocol_configs(_root: None, _info: Info, version: int | None = None) -> ProtocolConfigsNode | None:
    return ProtocolConfigsNode(PROTOCOL_VERSION) if version in (None, PROTOCOL_VERSION) else None


def _q_service_config(_root: None, _info: Info) -> dict[str, object]:
    return {
        **SERVICE_CONFIG,
        "defaultPageSize": lambda _info, type, field: DEFAULT_PAGE_SIZE,
        "maxPageSize": lambda _info, type, field: MAX_PAGE_SIZE,
    }


def _q_transaction(_root: None, info: Info, digest: str) -> TransactionNode | None:
    tx = _view(info).transaction(digest)
    return None if tx is None else TransactionNode(tx)


def _events_connection(view: ReadView, args: Mapping[str, Any], **filters: Any) -> Connection:
    page = page_request("ev", (int, int), args)
    rows = view.events(page, **filters)
    return _connection(
        rows, "ev", lambda r: (r["tx_seq"], r["event_seq"]), lambda r: EventNode(ReadView.event_from_row(r))
    )


def _q_events(_root: None, info: Info, filter: Mapping[str, Any] | None = None, **args: Any) -> Connection:
    filter = filter or {}
    if filter.get("type") is not None and filter.get("module") is not None:
        raise bad_input("Filtering events by emitting module and by type at the same time is not supported")
    module = filter.get("module")
    if module is not None:
        parts = module.split("::")
        try:
            canonical_address(parts[0])
        except MoveTypeError as error:
            raise bad_input(f"Invalid module filter {module!r}: {error}") from None
        if len(parts) > 2:
            raise bad_input(f"Invalid module filter {module!r}: expected package or package::module")
    return _events_connection(
        _view(info),
        args,
        type_pattern=_type_pattern(filter.get("type")),
        module=module,
        sender=filter.get("sender"),
        after_checkpoint=filter.get("afterCheckpoint"),
        at_checkpoint=filter.get("atCheckpoint"),
        before_checkpoint=filter.get("beforeCheckpoint"),
    )


# --- transactions, checkpoints, epochs, events --------------------------------------------


def _tx_sender(node: TransactionNode, _info: Info) -> AddressNode | None:
    return None if node.tx.sender is None else AddressNode(node.tx.sender)


def _tx_signatures(node: TransactionNode, _info: Info) -> list[dict[str, str]]:
    return [] if node.tx.signature is None else [{"signatureBytes": node.tx.signature}]


def _effects_events(node: TransactionNode, info: Info, **args: Any) -> Connection:
    return _events_connection(_view(info), args, tx_seq=node.tx.seq)


def _effects_changes(node: TransactionNode, info: Info, **args: Any) -> Connection:
    page = page_request("oc", (int,), args)
    rows = _view(info).changes(node.tx.seq, page)
    return _connection(
        rows, "oc", lambda r: (r["idx"],), lambda r: ChangeNode(node.tx.seq, ReadView.change_from_row(r))
    )


def _change_state(node: ChangeNode, info: Info, version: int | None) -> ObjectNode | None:
    if version is None:
        return None
    stored = _view(info).get_object(node.change.object_id, version=version)
    return None if stored is None else ObjectNode(stored)


def _checkpoint_digest(tx: StoredTransaction, _info: Info) -> str:
    return tx.checkpoint_digest


def _checkpoint_previous(tx: StoredTransaction, info: Info) -> str | None:
    previous = _view(info).transaction_at(tx.seq - 1) if tx.seq > 0 else None
    return None if previous is None else previous.checkpoint_digest


def _event_contents(node: EventNode, _info: Info) -> MoveValueNode:
    return MoveValueNode(TypeTag.parse(node.event.type), dict(node.event.contents))


def _event_bcs(node: EventNode, info: Info) -> str:
    """sui-types ``Event``: package id, transaction module, sender, type (StructTag), contents."""
    event = node.event
    tag = TypeTag.parse(event.type)
    package, module = event.tx_module.split("::")
    contents = _view(info).package.layouts.to_bcs(tag, event.contents)
    data = address_bytes(package) + bcs.string(module) + address_bytes(event.sender) + tag.bcs()[1:]
    return base64.b64encode(data + bcs.uleb128(len(contents)) + contents).decode()


def _event_transaction(node: EventNode, info: Info) -> TransactionNode | None:
    tx = _view(info).transaction_at(node.event.tx_seq)
    return None if tx is None else TransactionNode(tx)


def _event_timestamp(node: EventNode, info: Info) -> str | None:
    tx = _view(info).transaction_at(node.event.tx_seq)
    return None if tx is None else _datetime(tx.timestamp_ms)


def _event_module(node: EventNode, _info: Info) -> ModuleNode:
    package, module = node.event.tx_module.split("::")
    return ModuleNode(package, module)


def _module_package(node: ModuleNode, info: Info) -> ObjectNode | None:
    stored = _view(info).get_object(node.package_id)
    return None if stored is None else ObjectNode(stored)


def _epoch_start(_node: EpochNode, info: Info) -> str:
    return _datetime(_view(info).info.genesis_timestamp_ms)


def _protocol_config(_node: ProtocolConfigsNode, _info: Info, key: str) -> None:
    return None


_Resolver = Callable[..., Any]

_OBJECT_FIELDS: Final[Mapping[str, _Resolver]] = {
    "address": _address,
    "version": _version,
    "digest": _digest,
    "storageRebate": _storage_rebate,
    "owner": _owner,
    "previousTransaction": _previous_transaction,
    "objectBcs": _object_bcs,
    "objects": _owned_objects,
    "dynamicField": _dynamic_field,
    "dynamicFields": _dynamic_fields,
    "multiGetDynamicFields": _multi_get_dynamic_fields,
}

_MOVE_OBJECT_FIELDS: Final[Mapping[str, _Resolver]] = {
    **_OBJECT_FIELDS,
    "contents": _contents,
    "hasPublicTransfer": _has_public_transfer,
    "moveObjectBcs": _move_object_bcs_field,
}

RESOLVERS: Final[Mapping[str, Mapping[str, _Resolver]]] = {
    "Query": {
        "address": _q_address,
        "chainIdentifier": _q_chain_identifier,
        "checkpoint": _q_checkpoint,
        "epoch": _q_epoch,
        "events": _q_events,
        "multiGetObjects": _q_multi_get_objects,
        "object": _q_object,
        "objects": _q_objects,
        "package": _q_package,
        "protocolConfigs": _q_protocol_configs,
        "serviceConfig": _q_service_config,
        "transaction": _q_transaction,
    },
    "Address": {
        "address": _address,
        "asObject": lambda node, info: _q_object(None, info, node.address),
        "dynamicField": _dynamic_field,
        "dynamicFields": _dynamic_fields,
        "multiGetDynamicFields": _multi_get_dynamic_fields,
        "objects": _owned_objects,
    },
    "Object": {**_OBJECT_FIELDS, "asMoveObject": _as_move_object, "asMovePackage": _as_move_package},
    "MoveObject": {**_MOVE_OBJECT_FIELDS, "asDynamicField": _as_dynamic_field},
    "DynamicField": {**_MOVE_OBJECT_FIELDS, "name": _field_name, "value": _field_value},
    "MovePackage": {
        **{k: v for k, v in _OBJECT_FIELDS.items() if "ynamic" not in k},
        "module": _module,
        "moduleBcs": lambda _node, _info: None,
    },
    "MoveModule": {"name": lambda node, _info: node.name, "package": _module_package},
    "MoveValue": {"json": _value_json, "bcs": _value_bcs, "type": _value_type},
    "MoveType": {"repr": _type_repr, "signature": _type_signature},
    "Transaction": {
        "digest": lambda node, _info: node.tx.digest,
        "effects": lambda node, _info: node,
        "sender": _tx_sender,
        "signatures": _tx_signatures,
    },
    "TransactionEffects": {
        "checkpoint": lambda node, _info: node.tx,
        "digest": lambda node, _info: node.tx.digest,
        "epoch": lambda _node, _info: EpochNode(0),
        "events": _effects_events,
        "lamportVersion": lambda node, _info: node.tx.lamport_version,
        "objectChanges": _effects_changes,
        "status": lambda _node, _info: "SUCCESS",
        "timestamp": lambda node, _info: _datetime(node.tx.timestamp_ms),
        "transaction": lambda node, _info: node,
    },
    "ObjectChange": {
        "address": lambda node, _info: node.change.object_id,
        "idCreated": lambda node, _info: node.change.created,
        "idDeleted": lambda node, _info: node.change.deleted,
        "inputState": lambda node, info: _change_state(node, info, node.change.input_version),
        "outputState": lambda node, info: _change_state(node, info, node.change.output_version),
    },
    "Checkpoint": {
        "digest": _checkpoint_digest,
        "epoch": lambda _tx, _info: EpochNode(0),
        "networkTotalTransactions": lambda tx, _info: tx.seq + 1,
        "previousCheckpointDigest": _checkpoint_previous,
        "sequenceNumber": lambda tx, _info: tx.seq,
        "timestamp": lambda tx, _info: _datetime(tx.timestamp_ms),
    },
    "Epoch": {
        "endTimestamp": lambda _node, _info: None,
        "epochId": lambda node, _info: node.epoch_id,
        "protocolConfigs": lambda _node, _info: ProtocolConfigsNode(PROTOCOL_VERSION),
        "referenceGasPrice": lambda _node, _info: REFERENCE_GAS_PRICE,
        "startTimestamp": _epoch_start,
    },
    "ProtocolConfigs": {
        "config": _protocol_config,
        "configs": lambda _node, _info: [],
        "featureFlag": lambda _node, _info, key: None,
        "featureFlags": lambda _node, _info: [],
        "protocolVersion": lambda node, _info: node.version,
    },
    "Event": {
        "contents": _event_contents,
        "eventBcs": _event_bcs,
        "sender": lambda node, _info: AddressNode(node.event.sender),
        "sequenceNumber": lambda node, _info: node.event.event_seq,
        "timestamp": _event_timestamp,
        "transaction": _event_transaction,
        "transactionModule": _event_module,
    },
    "AddressOwner": {},
    "ObjectOwner": {},
    "Shared": {},
    "Immutable": {},
}

_CONNECTIONS: Final = (
    "DynamicFieldConnection",
    "EventConnection",
    "MoveObjectConnection",
    "ObjectChangeConnection",
    "ObjectConnection",
)


def build_localnet_schema() -> GraphQLSchema:
    """The served schema: the SDL with localnet's resolvers and scalar coercions attached."""
    schema = build_sdl_schema()
    _install_scalars(schema)
    for type_name, fields in RESOLVERS.items():
        graphql_type = schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType), type_name
        for field_name, resolver in fields.items():
            graphql_type.fields[field_name].resolve = resolver
    for name in _CONNECTIONS:
        connection = schema.get_type(name)
        assert isinstance(connection, GraphQLObjectType)
        connection.fields["nodes"].resolve = lambda conn, _info: conn.nodes
        connection.fields["edges"].resolve = lambda conn, _info: conn.edges()
        connection.fields["pageInfo"].resolve = lambda conn, _info: conn.page_info()
    owner = schema.get_type("Owner")
    assert isinstance(owner, GraphQLUnionType)
    owner.resolve_type = _owner_type  # type: ignore[assignment]
    value = schema.get_type("DynamicFieldValue")
    assert isinstance(value, GraphQLUnionType)
    value.resolve_type = _dynamic_field_value_type  # type: ignore[assignment]
    for interface in ("IAddressable", "IObject", "IMoveObject"):
        iface = schema.get_type(interface)
        iface.resolve_type = _object_type  # type: ignore[union-attr]
    return schema
