"""Replaying contracts/vectors/*.json and contracts/vectors/enclave/*.json (format:
contracts/vectors/README.md) against localnet.

The vectors speak in names (actors, bound objects, unknown ids) and plain JSON values; this
module maps them to chain arguments and maps what the chain answers back to vector form, so a
test compares exactly what a vector says.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k3s_daas.localnet.move import ID_TYPE, U64, TypeTag, canonical_address, derive_dynamic_field_id
from k3s_daas.localnet.package import Package
from k3s_daas.localnet.store import ReadView

VECTOR_DIR = Path(__file__).resolve().parents[2] / "contracts" / "vectors"
# The enclave module's vectors, one directory down (contracts/vectors/README.md, "Subdirectories").
ENCLAVE_VECTOR_DIR = VECTOR_DIR / "enclave"
FORMAT = "k3s-daas/chain-vector@1"

# Localnet system calls (no signer: run on the store as SYSTEM_SENDER, never over HTTP); the
# vector's sender becomes the call's ``owner`` argument, as Move's test-only function records it.
SYSTEM_CALLS = {("enclave", "register_for_testing")}

# Entry functions whose Move signature takes the sender's AdminCap (implicit in the vectors).
NEEDS_CAP = {
    ("staking", "slash"),
    ("staking", "set_cooldown"),
    ("k8s_gateway", "admin_revoke_seal_token"),
    ("enclave", "update_pcrs"),
}


def load_vectors(directory: Path = VECTOR_DIR) -> list[dict[str, Any]]:
    """The vectors of one directory (the top level by default, as before the enclave module)."""
    vectors = []
    for path in sorted(directory.glob("*.json")):
        vector = json.loads(path.read_text(encoding="utf-8"))
        assert vector["format"] == FORMAT, path
        assert vector["name"] == path.stem, path
        vectors.append(vector)
    return vectors


@dataclass
class Names:
    """Vector names <-> chain values: actors to addresses, bound and unknown names to ids."""

    actors: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, vector: Mapping[str, Any], actors: Mapping[str, str] | None = None) -> Names:
        chosen = actors or vector["actors"]
        names = cls({name: canonical_address(chosen[name]) for name in vector["actors"]})
        for name, value in vector.get("unknown_ids", {}).items():
            names.ids[name] = canonical_address(value)
        for name, value in vector.get("documents", {}).items():
            names.documents[name] = bytes.fromhex(value)
        return names

    def id(self, name: str) -> str:
        return self.ids[name]

    def name_of(self, value: str) -> str:
        for table in (self.actors, self.ids):
            for name, known in table.items():
                if known == value:
                    return name
        return value


def split_call(step: Mapping[str, Any]) -> tuple[str, str]:
    module, function = step["call"].split("::")
    return module, function


def call_arguments(step: Mapping[str, Any], names: Names, cap: str | None) -> dict[str, object]:
    """The localnet ``Call`` arguments for a vector step (implicit cap made explicit)."""
    module, function = split_call(step)
    args = step["args"]
    out: dict[str, object]
    if function == "stake":
        out = {"amount": args["coin"], "role": args["role"], "node_name": args["node_name"]}
    elif function in ("request_unstake", "withdraw", "issue_seal_token"):
        out = {**args, "record": names.id(args["record"])}
    elif function == "slash":
        out = {**args, "record_id": names.id(args["record_id"])}
    elif function in ("revoke_seal_token", "admin_revoke_seal_token"):
        out = {**args, "token_id": names.id(args["token_id"])}
    elif function == "store_k8s_response":
        out = {
            **args,
            "enclave": names.id(args["enclave"]),
            "body_digest": _b64_of_hex(args["body_digest"]),
            "signature": _b64_of_hex(args["signature"]),
        }
    elif function == "register_for_testing":
        out = {**args, "public_key": _b64_of_hex(args["public_key"]), "owner": names.actors[step["sender"]]}
    elif function == "update_pcrs":
        out = {name: _b64_of_hex(value) for name, value in args.items()}
    elif function == "register_enclave":
        # Localnet runs load_nitro_attestation inside the call: it takes the document's bytes.
        out = {"document": base64.b64encode(names.documents[args["document"]]).decode()}
    elif function == "record_message":
        out = {
            **args,
            "enclave": names.id(args["enclave"]),
            "payload": _b64_of_hex(args["payload"]),
            "signature": _b64_of_hex(args["signature"]),
        }
    else:
        out = dict(args)
    if (module, function) in NEEDS_CAP:
        assert cap is not None, f"{step['call']} needs the AdminCap"
        out["cap"] = cap
    return out


def _b64_of_hex(text: str) -> str:
    return base64.b64encode(bytes.fromhex(text)).decode()


def bind(step: Mapping[str, Any], events: list[tuple[str, Mapping[str, Any]]], names: Names) -> None:
    """Record the id of the object a successful stake / issue / registration created under the step's name."""
    if "bind" not in step:
        return
    key = {
        "stake": "record_id",
        "issue_seal_token": "token_id",
        "register_enclave": "enclave_id",
        "register_for_testing": "enclave_id",
    }[split_call(step)[1]]
    (fields,) = [f for _t, f in events if key in f]
    names.ids[step["bind"]] = str(fields[key])


def to_vector_value(package: Package, tag: TypeTag, value: object, names: Names) -> object:
    """A chain JSON value (Sui's MoveValue.json form) in the vectors' notation."""
    if tag.name == "address" and not tag.is_struct:
        return names.name_of(str(value))
    if tag == ID_TYPE:
        return names.name_of(str(value))
    if tag.is_vector:
        inner = tag.params[0]
        if inner.name == "u8" and not inner.is_struct:
            return base64.b64decode(str(value)).hex()
        assert isinstance(value, list)
        return [to_vector_value(package, inner, item, names) for item in value]
    if not tag.is_struct and tag.name in ("u8", "u16", "u32", "u64"):
        return int(str(value))
    if tag.is_struct and tag.name not in ("String",):
        assert isinstance(value, Mapping)
        return {name: to_vector_value(package, t, value[name], names) for name, t in package.layouts.fields(tag)}
    return value


def event_in_vector_form(package: Package, type_repr: str, contents: Mapping[str, Any], names: Names) -> dict[str, Any]:
    tag = TypeTag.parse(type_repr)
    assert tag.address == package.package_id, type_repr
    fields = to_vector_value(package, tag, contents, names)
    return {"type": f"{tag.module}::{tag.name}", "fields": fields}


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainState:
    """Readers of the state a vector's ``expect.state`` can check (None: no such entry)."""

    stake: Callable[[str], tuple[int, int] | None]
    pool_balance: Callable[[], int]
    cooldown_ms: Callable[[], int]
    token: Callable[[str], tuple[bool, int] | None]
    next_request_id: Callable[[], int]
    response: Callable[[int], tuple[int, str, str] | None]
    enclave_config: Callable[[], dict[str, Any]]
    """``{"version", "pcr0", "pcr1", "pcr2"}`` in vector form."""
    enclave: Callable[[str], dict[str, Any] | None]
    """``{"public_key", "config_version", "attested_at_ms"}`` of an Enclave, in vector form."""


def state_mismatches(expected: Mapping[str, Any], state: ChainState, names: Names) -> list[str]:
    wrong: list[str] = []

    def check(what: str, found: object, wanted: object) -> None:
        if found != wanted:
            wrong.append(f"{what}: chain has {found!r}, vector expects {wanted!r}")

    for record, want in expected.get("stakes", {}).items():
        check(f"stake {record}", state.stake(names.id(record)), (want["amount"], want["status"]))
    if "pool_balance" in expected:
        check("pool balance", state.pool_balance(), expected["pool_balance"])
    if "cooldown_ms" in expected:
        check("cooldown", state.cooldown_ms(), expected["cooldown_ms"])
    for token, want in expected.get("tokens", {}).items():
        check(f"token {token}", state.token(names.id(token)), (want["revoked"], want["expires_at_ms"]))
    if "next_request_id" in expected:
        check("next request id", state.next_request_id(), expected["next_request_id"])
    for request_id, want in expected.get("responses", {}).items():
        wanted = None if want is None else (want["status_code"], want["body_digest"], want["body"])
        check(f"response {request_id}", state.response(int(request_id)), wanted)
    if "enclave_config" in expected:
        check("enclave config", state.enclave_config(), expected["enclave_config"])
    for enclave, want in expected.get("enclaves", {}).items():
        check(f"enclave {enclave}", state.enclave(names.id(enclave)), want)
    return wrong


def enclave_config_in_vector_form(contents: Mapping[str, Any]) -> dict[str, Any]:
    """An ``EnclaveConfig``'s Move JSON (vector<u8> as Base64, u64 as strings) as a vector states it."""
    pcrs = {name: base64.b64decode(contents[name]).hex() for name in ("pcr0", "pcr1", "pcr2")}
    return {"version": int(contents["version"]), **pcrs}


def enclave_in_vector_form(contents: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "public_key": base64.b64decode(contents["public_key"]).hex(),
        "config_version": int(contents["config_version"]),
        "attested_at_ms": int(contents["attested_at_ms"]),
    }


def view_state(view_of: Callable[[], Any]) -> ChainState:
    """``ChainState`` over the store directly (one read snapshot per question)."""

    def pool() -> Mapping[str, Any]:
        with view_of() as view:
            assert isinstance(view, ReadView)
            stored = view.get_object(view.info.deployment.pool_id)
            return dict(stored.state.contents)

    def gateway() -> Mapping[str, Any]:
        with view_of() as view:
            stored = view.get_object(view.info.deployment.gateway_id)
            return dict(stored.state.contents)

    def enclave_config() -> dict[str, Any]:
        with view_of() as view:
            stored = view.get_object(view.info.deployment.enclave_config_id)
            return enclave_config_in_vector_form(stored.state.contents)

    def enclave(enclave_id: str) -> dict[str, Any] | None:
        with view_of() as view:
            stored = view.get_object(enclave_id)
            return None if stored is None else enclave_in_vector_form(stored.state.contents)

    def field_value(table: str, key_type: TypeTag, key: object) -> Mapping[str, Any] | None:
        with view_of() as view:
            key_bcs = view.package.layouts.to_bcs(key_type, key)
            stored = view.get_object(derive_dynamic_field_id(table, key_type, key_bcs))
            return None if stored is None else dict(stored.state.contents["value"])

    def stake(record: str) -> tuple[int, int] | None:
        value = field_value(pool()["entries"]["id"], ID_TYPE, record)
        return None if value is None else (int(value["amount"]), int(value["status"]))

    def token(token_id: str) -> tuple[bool, int] | None:
        value = field_value(gateway()["tokens"]["id"], ID_TYPE, token_id)
        return None if value is None else (bool(value["revoked"]), int(value["expires_at_ms"]))

    def response(request_id: int) -> tuple[int, str, str] | None:
        value = field_value(gateway()["responses"]["id"], U64, str(request_id))
        if value is None:
            return None
        return int(value["status_code"]), base64.b64decode(value["body_digest"]).hex(), str(value["body"])

    return ChainState(
        stake=stake,
        pool_balance=lambda: int(pool()["balance"]),
        cooldown_ms=lambda: int(pool()["cooldown_ms"]),
        token=token,
        next_request_id=lambda: int(gateway()["next_request_id"]),
        response=response,
        enclave_config=enclave_config,
        enclave=enclave,
    )


def graphql_state(
    graphql: Callable[[str, Mapping[str, Any]], Mapping[str, Any]],
    pool_id: str,
    gateway_id: str,
    enclave_config_id: str = "",
) -> ChainState:
    """``ChainState`` read over Sui GraphQL (object contents and ``dynamicField`` lookups)."""
    object_query = "query($id: SuiAddress!) { object(address: $id) { asMoveObject { contents { json } } } }"
    field_query = (
        "query($parent: SuiAddress!, $name: DynamicFieldName!) { address(address: $parent) {"
        " dynamicField(name: $name) { value { ... on MoveValue { json } } } } }"
    )

    def contents(object_id: str) -> Mapping[str, Any]:
        return graphql(object_query, {"id": object_id})["object"]["asMoveObject"]["contents"]["json"]

    def enclave(enclave_id: str) -> dict[str, Any] | None:
        found = graphql(object_query, {"id": enclave_id})["object"]
        return None if found is None else enclave_in_vector_form(found["asMoveObject"]["contents"]["json"])

    def field_value(table: str, key_type: str, key_bcs: bytes) -> Mapping[str, Any] | None:
        name = {"type": key_type, "bcs": base64.b64encode(key_bcs).decode()}
        found = graphql(field_query, {"parent": table, "name": name})["address"]["dynamicField"]
        return None if found is None else found["value"]["json"]

    def stake(record: str) -> tuple[int, int] | None:
        value = field_value(contents(pool_id)["entries"]["id"], "0x2::object::ID", bytes.fromhex(record[2:]))
        return None if value is None else (int(value["amount"]), int(value["status"]))

    def token(token_id: str) -> tuple[bool, int] | None:
        value = field_value(contents(gateway_id)["tokens"]["id"], "0x2::object::ID", bytes.fromhex(token_id[2:]))
        return None if value is None else (bool(value["revoked"]), int(value["expires_at_ms"]))

    def response(request_id: int) -> tuple[int, str, str] | None:
        key = request_id.to_bytes(8, "little")
        value = field_value(contents(gateway_id)["responses"]["id"], "u64", key)
        if value is None:
            return None
        return int(value["status_code"]), base64.b64decode(value["body_digest"]).hex(), str(value["body"])

    return ChainState(
        stake=stake,
        pool_balance=lambda: int(contents(pool_id)["balance"]),
        cooldown_ms=lambda: int(contents(pool_id)["cooldown_ms"]),
        token=token,
        next_request_id=lambda: int(contents(gateway_id)["next_request_id"]),
        response=response,
        enclave_config=lambda: enclave_config_in_vector_form(contents(enclave_config_id)),
        enclave=enclave,
    )


def db_fingerprint(path: Path) -> dict[str, int]:
    """Row counts and a content hash of every table that holds chain state (not the replay guard)."""
    import hashlib
    import sqlite3

    out: dict[str, int] = {}
    with sqlite3.connect(path) as conn:
        for table in ("meta", "transactions", "object_versions", "live_objects", "object_changes", "events"):
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            out[table] = len(rows)
            out[f"{table}#"] = int.from_bytes(hashlib.blake2b(repr(rows).encode(), digest_size=8).digest(), "big")
    return out
