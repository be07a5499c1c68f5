"""Localnet's functional core without I/O: Move types and encodings, semantics, signed calls."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from k3s_daas.localnet.move import (
    ID_TYPE,
    STRING_TYPE,
    U64,
    MoveTypeError,
    TypeTag,
    base58,
    base58_decode,
    canonical_address,
    derive_dynamic_field_id,
)
from k3s_daas.localnet.package import Package
from k3s_daas.localnet.protocol import BadRequest, SignedCall, sign_call, verify_call
from k3s_daas.localnet.semantics import decode_arguments, execute, genesis, valid_permission
from k3s_daas.localnet.state import Call, ChangeKind, InvalidTransaction, MoveAbort, ObjectState, TxContext
from k3s_daas.sui import bcs
from k3s_daas.sui.crypto import Keypair, SignatureScheme

PKG = "0x" + "ab" * 32
ADMIN = canonical_address("0xad")
ALICE = canonical_address("0xa11ce")


def test_type_tags_parse_and_print_like_sui() -> None:
    text = "0x2::dynamic_field::Field<0x2::object::ID,0xab::staking::StakeEntry>"
    tag = TypeTag.parse(text)
    assert tag.repr() == (
        f"{canonical_address('0x2')}::dynamic_field::Field<{canonical_address('0x2')}::object::ID, "
        f"{canonical_address('0xab')}::staking::StakeEntry>"
    )
    assert TypeTag.parse(tag.repr()) == tag
    assert TypeTag.parse("vector<vector<u8>>").repr() == "vector<vector<u8>>"
    assert tag.signature()["datatype"]["typeParameters"][0]["datatype"]["type"] == "ID"  # type: ignore[index]
    for bad in ("0x2::coin", "u7", "vector<u8", "0xzz::a::B", "0x2::coin::Coin<>", "u64 u64"):
        with pytest.raises(MoveTypeError):
            TypeTag.parse(bad)


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("0x2", True),
        ("0x0002::coin", True),
        ("0x2::coin::Coin", True),
        ("0x2::coin::Coin<0x2::sui::SUI>", True),
        ("0x2::coin::Coin<0x3::sui::SUI>", False),
        ("0x2::balance", False),
        ("0x3", False),
        ("nonsense", False),
    ],
)
def test_type_filters(pattern: str, matches: bool) -> None:
    assert TypeTag.parse("0x2::coin::Coin<0x2::sui::SUI>").matches(pattern) is matches


def test_bcs_encodings() -> None:
    layouts = Package(PKG).layouts
    assert bcs.uleb128(300) == b"\xac\x02"
    assert layouts.to_bcs(U64, "258") == (258).to_bytes(8, "little")
    assert layouts.to_bcs(STRING_TYPE, "é") == b"\x02\xc3\xa9"
    assert layouts.to_bcs(TypeTag.vector(STRING_TYPE), ["a", "bc"]) == b"\x02\x01a\x02bc"
    assert layouts.to_bcs(TypeTag.vector(TypeTag("u8")), "qwE=") == b"\x02\xab\x01"
    assert layouts.to_bcs(ID_TYPE, "0x1") == bytes(31) + b"\x01"
    entry = {"owner": ALICE, "role": 1, "amount": "5", "node_name": "n", "status": 0, "unstake_requested_at_ms": "0"}
    encoded = layouts.to_bcs(Package(PKG).stake_entry, entry)
    assert encoded == bytes.fromhex(ALICE[2:]) + b"\x01" + (5).to_bytes(8, "little") + b"\x01n" + b"\x00" + bytes(8)
    assert ID_TYPE.bcs() == b"\x07" + bytes.fromhex(canonical_address("0x2")[2:]) + b"\x06object\x02ID\x00"
    with pytest.raises(MoveTypeError):
        layouts.to_bcs(Package(PKG).stake_entry, {"owner": 5})


def test_base58_and_ids() -> None:
    assert base58(b"hello world") == "StV1DL6CwTryKyV"
    assert base58_decode(base58(b"\x00\x00\x01\x02")) == b"\x00\x00\x01\x02"
    field_id = derive_dynamic_field_id("0x5", ID_TYPE, bytes(32))
    assert field_id == derive_dynamic_field_id("0x05", ID_TYPE, bytes(32))
    assert field_id != derive_dynamic_field_id("0x5", U64, bytes(8))
    assert len(field_id) == 66


@pytest.mark.parametrize(
    ("permission", "valid"),
    [
        ("pods:get", True),
        ("a:b", True),
        ("x" * 126 + ":y", True),
        ("x" * 127 + ":y", False),
        ("pods", False),
        (":get", False),
        ("pods:", False),
        ("pods:get:list", False),
        ("pods :get", False),
        ("pods:\tget", False),
        ("pods:ge\u00a0t", True),  # only ASCII whitespace is refused, as in Move
        ("", False),
    ],
)
def test_permission_rule(permission: str, valid: bool) -> None:
    assert valid_permission(permission) is valid


class _Objects:
    """A ``StateReader`` over a dict: the pure core needs nothing more."""

    def __init__(self, states: list[ObjectState]) -> None:
        self.states = {s.object_id: s for s in states}

    def get_object(self, object_id: str) -> ObjectState | None:
        return self.states.get(object_id)

    def apply(self, changes: Mapping[str, ObjectState | None]) -> None:
        for object_id, state in changes.items():
            if state is None:
                self.states.pop(object_id, None)
            else:
                self.states[object_id] = state


def test_semantics_are_a_pure_function_of_state_call_and_time() -> None:
    published = genesis(PKG, ADMIN, bytes(32))
    objects = _Objects([c.latest for c in published.effects.changes])
    call = Call("staking", "stake", {"amount": 600_000_000, "role": 0, "node_name": ""})
    ctx = TxContext(ALICE, b"\x01" * 32, 1_000)
    first = execute(objects, published.deployment, call, ctx)
    assert first == execute(objects, published.deployment, call, ctx)  # same inputs, same effects
    assert first.lamport_version == 2
    kinds = sorted((c.kind, c.latest.type_repr.rsplit("::", 1)[-1]) for c in first.changes)
    assert kinds == [
        (ChangeKind.CREATED, "StakeEntry>"),
        (ChangeKind.CREATED, "StakeRecord"),
        (ChangeKind.MUTATED, "StakingPool"),
    ]
    assert len(objects.states) == 5  # genesis wrote 5 objects; execute wrote nothing to the reader
    objects.apply({c.object_id: c.after for c in first.changes})
    record = next(c.object_id for c in first.changes if c.latest.type_repr.endswith("StakeRecord"))
    unstake = Call("staking", "request_unstake", {"record": record})
    later = execute(objects, published.deployment, unstake, TxContext(ALICE, b"\x02" * 32, 2_000))
    # The record, an owned input passed by reference, still gets the new version (as on Sui).
    bumped = next(c for c in later.changes if c.object_id == record)
    assert bumped.kind is ChangeKind.MUTATED and bumped.after is not None and bumped.after.version == 3
    with pytest.raises(InvalidTransaction, match="not by the sender"):
        execute(objects, published.deployment, unstake, TxContext(ADMIN, b"\x03" * 32, 2_000))
    with pytest.raises(MoveAbort) as raised:
        execute(objects, published.deployment, Call("staking", "stake", {"amount": 1, "role": 3, "node_name": ""}), ctx)
    assert raised.value.abort.name == "EInvalidRole"


def test_arguments_are_checked_against_the_entry_function() -> None:
    assert decode_arguments(Call("staking", "set_cooldown", {"cap": "0x1", "cooldown_ms": "5"})) == {
        "cap": canonical_address("0x1"),
        "cooldown_ms": 5,
    }
    for call, fragment in (
        (Call("staking", "set_cooldown", {"cap": "0x1", "cooldown_ms": 2**64}), "0 to"),
        (Call("staking", "set_cooldown", {"cap": "0x1", "cooldown_ms": True}), "boolean"),
        (Call("k8s_gateway", "issue_seal_token", {"record": "0x1", "permissions": [1], "expires_in_ms": 1}), "string"),
        (Call("k8s_gateway", "submit_request", {"method": "GET", "path": "/", "payload": "\ud800"}), "UTF-8"),
        (Call("nope", "stake", {}), "no entry function"),
    ):
        with pytest.raises(InvalidTransaction, match=fragment):
            decode_arguments(call)


def test_signed_calls_verify_only_as_signed() -> None:
    key = Keypair.generate(SignatureScheme.SECP256R1)
    call = Call("staking", "stake", {"amount": 1, "role": 0, "node_name": ""})
    signed = sign_call(key, "c0ffee00", call, 10_000_000)
    verified = verify_call(signed, "c0ffee00", 10_000_000)
    assert verified.sender == key.address and verified.call == call
    document = json.loads(signed.message)
    for change, fragment in (
        ({"v": 2}, '"v": 1'),
        ({"chain": "other"}, "is for chain"),
        ({"timestampMs": 1}, "from the server's clock"),
        ({"nonce": "short"}, "nonce"),
        ({"sender": "0xnope"}, "sender"),
        ({"call": {"module": "staking"}}, '"call"'),
        ({"sender": Keypair.generate(SignatureScheme.ED25519).address}, "signature rejected"),
    ):
        message = json.dumps({**document, **change}).encode()
        with pytest.raises(BadRequest, match=fragment):
            verify_call(SignedCall(message, key.sign_personal_message(message)), "c0ffee00", 10_000_000)
    with pytest.raises(BadRequest, match="not UTF-8 JSON"):
        verify_call(SignedCall(b"\xff", signed.signature), "c0ffee00", 10_000_000)
