"""Move types and values as a Sui network shows them: type tags, JSON, BCS, object ids.

Localnet stores every Move value in the JSON form Sui's GraphQL ``MoveValue.json`` returns
(u8/u16/u32 as numbers, u64 and wider as strings, ids and addresses as 0x-prefixed 64-digit
strings, ``String`` as a string, ``Balance`` as its value string, ``vector<u8>`` as Base64) and
derives the BCS bytes from it with the struct layouts below, so both encodings always agree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from k3s_daas.errors import UserError
from k3s_daas.sui import bcs

SUI_FRAMEWORK: Final = "0x" + "0" * 63 + "2"
MOVE_STDLIB: Final = "0x" + "0" * 63 + "1"

PRIMITIVES: Final = frozenset({"address", "bool", "u8", "u16", "u32", "u64", "u128", "u256", "signer"})

# BCS variant indexes of Move's TypeTag enum (sui/external-crates/move/.../language_storage.rs).
_TYPE_TAG_INDEX: Final = {
    "bool": 0,
    "u8": 1,
    "u64": 2,
    "u128": 3,
    "address": 4,
    "signer": 5,
    "u16": 8,
    "u32": 9,
    "u256": 10,
}
_VECTOR_TAG: Final = 6
_STRUCT_TAG: Final = 7

# Sui's HashingIntentScope bytes for id derivation (sui-types/src/base_types.rs).
_CHILD_OBJECT_ID_SCOPE: Final = 0xF0
_REGULAR_OBJECT_ID_SCOPE: Final = 0xF1

_HEX: Final = re.compile(r"0x[0-9a-fA-F]{1,64}")
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MoveTypeError(UserError, ValueError):
    """A type string or Move value that does not parse."""


def canonical_address(text: str) -> str:
    """``0x2`` -> ``0x000...002``: the 66-character form every Sui output uses."""
    if not _HEX.fullmatch(text):
        raise MoveTypeError(f"{text!r} is not a Sui address (0x followed by 1 to 64 hex digits)")
    return "0x" + text[2:].lower().rjust(64, "0")


def address_bytes(text: str) -> bytes:
    return bytes.fromhex(canonical_address(text)[2:])


@dataclass(frozen=True, slots=True)
class TypeTag:
    """A concrete Move type: a primitive (``name`` only), ``vector<param>`` or a struct."""

    name: str
    address: str = ""
    module: str = ""
    params: tuple[TypeTag, ...] = ()

    @property
    def is_struct(self) -> bool:
        return bool(self.address)

    @property
    def is_vector(self) -> bool:
        return self.name == "vector" and not self.address

    @classmethod
    def struct(cls, address: str, module: str, name: str, *params: TypeTag) -> TypeTag:
        return cls(name=name, address=canonical_address(address), module=module, params=params)

    @classmethod
    def vector(cls, param: TypeTag) -> TypeTag:
        return cls(name="vector", params=(param,))

    @classmethod
    def parse(cls, text: str) -> TypeTag:
        parser = _TypeParser(text)
        tag = parser.type_tag()
        parser.end()
        return tag

    def repr(self) -> str:
        """Sui's display form: full-length addresses, ``, `` between type parameters."""
        if self.is_vector:
            return f"vector<{self.params[0].repr()}>"
        if not self.is_struct:
            return self.name
        base = f"{self.address}::{self.module}::{self.name}"
        if self.params:
            return base + "<" + ", ".join(p.repr() for p in self.params) + ">"
        return base

    def signature(self) -> object:
        """The ``MoveTypeSignature`` JSON of Sui's GraphQL."""
        if self.is_vector:
            return {"vector": self.params[0].signature()}
        if not self.is_struct:
            return self.name
        return {
            "datatype": {
                "package": self.address,
                "module": self.module,
                "type": self.name,
                "typeParameters": [p.signature() for p in self.params],
            }
        }

    def bcs(self) -> bytes:
        if self.is_vector:
            return bytes([_VECTOR_TAG]) + self.params[0].bcs()
        if not self.is_struct:
            return bytes([_TYPE_TAG_INDEX[self.name]])
        out = bytearray([_STRUCT_TAG])
        out += address_bytes(self.address)
        out += bcs.string(self.module)
        out += bcs.string(self.name)
        out += bcs.uleb128(len(self.params))
        for param in self.params:
            out += param.bcs()
        return bytes(out)

    def matches(self, pattern: str) -> bool:
        """Sui's type filters: ``0x2``, ``0x2::coin``, ``0x2::coin::Coin`` or an instantiation."""
        parts = pattern.strip().split("::", 2)
        if not self.is_struct:
            return False
        try:
            if canonical_address(parts[0]) != self.address:
                return False
        except MoveTypeError:
            return False
        if len(parts) == 1:
            return True
        if parts[1] != self.module:
            return False
        if len(parts) == 2:
            return True
        if "<" not in parts[2]:
            return parts[2] == self.name
        try:
            return TypeTag.parse(pattern) == self
        except MoveTypeError:
            return False


class _TypeParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _error(self, what: str) -> MoveTypeError:
        return MoveTypeError(f"type {self.text!r}: {what} at position {self.pos}")

    def _expect(self, token: str) -> None:
        self._skip()
        if not self.text.startswith(token, self.pos):
            raise self._error(f"expected {token!r}")
        self.pos += len(token)

    def _match(self, pattern: re.Pattern[str]) -> str:
        self._skip()
        found = pattern.match(self.text, self.pos)
        if not found:
            raise self._error("unexpected text")
        self.pos = found.end()
        return found.group(0)

    def end(self) -> None:
        self._skip()
        if self.pos != len(self.text):
            raise self._error("unexpected trailing text")

    def type_tag(self) -> TypeTag:
        self._skip()
        if self.text.startswith("0x", self.pos):
            address = self._match(_HEX)
            self._expect("::")
            module = self._match(_IDENT)
            self._expect("::")
            name = self._match(_IDENT)
            params: list[TypeTag] = []
            self._skip()
            if self.text.startswith("<", self.pos):
                self.pos += 1
                params.append(self.type_tag())
                self._skip()
                while self.text.startswith(",", self.pos):
                    self.pos += 1
                    params.append(self.type_tag())
                    self._skip()
                self._expect(">")
            return TypeTag.struct(address, module, name, *params)
        word = self._match(_IDENT)
        if word == "vector":
            self._expect("<")
            inner = self.type_tag()
            self._expect(">")
            return TypeTag.vector(inner)
        if word in PRIMITIVES:
            return TypeTag(name=word)
        raise self._error(f"unknown type {word!r}")


# --- well-known framework types -------------------------------------------------------------

ID_TYPE: Final = TypeTag.struct(SUI_FRAMEWORK, "object", "ID")
UID_TYPE: Final = TypeTag.struct(SUI_FRAMEWORK, "object", "UID")
STRING_TYPE: Final = TypeTag.struct(MOVE_STDLIB, "string", "String")
SUI_TYPE: Final = TypeTag.struct(SUI_FRAMEWORK, "sui", "SUI")
U8: Final = TypeTag("u8")
U16: Final = TypeTag("u16")
U64: Final = TypeTag("u64")
BOOL: Final = TypeTag("bool")
ADDRESS: Final = TypeTag("address")


def balance_type(coin: TypeTag = SUI_TYPE) -> TypeTag:
    return TypeTag.struct(SUI_FRAMEWORK, "balance", "Balance", coin)


def coin_type(coin: TypeTag = SUI_TYPE) -> TypeTag:
    return TypeTag.struct(SUI_FRAMEWORK, "coin", "Coin", coin)


def table_type(key: TypeTag, value: TypeTag) -> TypeTag:
    return TypeTag.struct(SUI_FRAMEWORK, "table", "Table", key, value)


def field_type(key: TypeTag, value: TypeTag) -> TypeTag:
    return TypeTag.struct(SUI_FRAMEWORK, "dynamic_field", "Field", key, value)


# --- layouts ----------------------------------------------------------------------------------

Fields = tuple[tuple[str, TypeTag], ...]


class LayoutRegistry:
    """Struct field lists by struct name (address, module, name), generic ones by parameter."""

    def __init__(self, structs: Mapping[tuple[str, str, str], Fields]) -> None:
        self._structs = dict(structs)

    def fields(self, tag: TypeTag) -> Fields:
        key = (tag.address, tag.module, tag.name)
        if key == (SUI_FRAMEWORK, "object", "UID"):
            return (("id", ID_TYPE),)
        if key == (SUI_FRAMEWORK, "coin", "Coin"):
            return (("id", UID_TYPE), ("balance", balance_type(tag.params[0])))
        if key == (SUI_FRAMEWORK, "table", "Table"):
            return (("id", UID_TYPE), ("size", U64))
        if key == (SUI_FRAMEWORK, "dynamic_field", "Field"):
            return (("id", UID_TYPE), ("name", tag.params[0]), ("value", tag.params[1]))
        try:
            return self._structs[key]
        except KeyError:
            raise MoveTypeError(f"no layout known for {tag.repr()}") from None

    def to_bcs(self, tag: TypeTag, value: object) -> bytes:
        out = bytearray()
        self._encode(tag, value, out)
        return bytes(out)

    def _encode(self, tag: TypeTag, value: object, out: bytearray) -> None:
        # The JSON renderings Sui applies to framework structs are undone here.
        if tag in (ID_TYPE, UID_TYPE) or tag.name == "address":
            out += address_bytes(_as_str(value, tag))
        elif tag == STRING_TYPE:
            out += bcs.string(_as_str(value, tag))
        elif tag.is_struct and (tag.address, tag.module, tag.name) == (SUI_FRAMEWORK, "balance", "Balance"):
            out += struct.pack("<Q", int(_as_str(value, tag)))
        elif tag.name == "bool" and not tag.is_struct:
            out.append(1 if value is True else 0)
        elif tag.name in ("u8", "u16", "u32", "u64", "u128", "u256") and not tag.is_struct:
            width = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "u256": 32}[tag.name]
            out += int(str(value)).to_bytes(width, "little")
        elif tag.is_vector:
            inner = tag.params[0]
            if inner.name == "u8" and not inner.is_struct:
                data = _b64(_as_str(value, tag))
                out += bcs.uleb128(len(data)) + data
            else:
                items = value if isinstance(value, list) else None
                if items is None:
                    raise MoveTypeError(f"{tag.repr()} value must be a JSON array")
                out += bcs.uleb128(len(items))
                for item in items:
                    self._encode(inner, item, out)
        elif tag.is_struct:
            if not isinstance(value, Mapping):
                raise MoveTypeError(f"{tag.repr()} value must be a JSON object")
            for name, field_tag in self.fields(tag):
                self._encode(field_tag, value[name], out)
        else:
            raise MoveTypeError(f"cannot encode {tag.repr()}")


def _as_str(value: object, tag: TypeTag) -> str:
    if not isinstance(value, str):
        raise MoveTypeError(f"{tag.repr()} value must be a JSON string, got {value!r}")
    return value


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MoveTypeError("vector<u8> value must be Base64") from None


# --- BCS primitives, ids, digests ----------------------------------------------------------


def blake2b256(*parts: bytes) -> bytes:
    hasher = hashlib.blake2b(digest_size=32)
    for part in parts:
        hasher.update(part)
    return hasher.digest()


def derive_object_id(tx_digest: bytes, creation_number: int) -> str:
    """Sui's ``ObjectID::derive_id``: the n-th object a transaction creates."""
    return "0x" + blake2b256(bytes([_REGULAR_OBJECT_ID_SCOPE]), tx_digest, struct.pack("<Q", creation_number)).hex()


def derive_dynamic_field_id(parent: str, key_type: TypeTag, key_bcs: bytes) -> str:
    """Sui's ``derive_dynamic_field_id``: where ``Field<K, V>`` named ``key`` under ``parent`` lives."""
    return (
        "0x"
        + blake2b256(
            bytes([_CHILD_OBJECT_ID_SCOPE]),
            address_bytes(parent),
            struct.pack("<Q", len(key_bcs)),
            key_bcs,
            key_type.bcs(),
        ).hex()
    )


_B58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(data: bytes) -> str:
    """Bitcoin-alphabet Base58, the encoding of Sui digests."""
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rest = divmod(number, 58)
        out.append(_B58_ALPHABET[rest])
    leading = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading + "".join(reversed(out))


def base58_decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _B58_ALPHABET.find(char)
        if index < 0:
            raise MoveTypeError(f"{text!r} is not Base58")
        number = number * 58 + index
    leading = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading + body
