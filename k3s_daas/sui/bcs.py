"""The few BCS (Binary Canonical Serialization) encodings enclave payloads need.

BCS is what Move's ``std::bcs::to_bytes`` produces: little-endian fixed-width integers,
ULEB128 lengths before vectors and strings, and a struct is its fields' encodings concatenated in
declaration order (no names, no framing). So a payload struct is encoded by concatenating the
encodings of its fields, e.g. Nautilus's ``WeatherResponse { location: String, temperature: u64 }``
is ``string(location) + u64(temperature)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["address", "boolean", "byte_vector", "string", "u8", "u16", "u32", "u64", "uleb128", "vector"]

ADDRESS_LENGTH: Final = 32


def uleb128(value: int) -> bytes:
    if value < 0:
        raise ValueError("ULEB128 encodes non-negative integers only")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _unsigned(value: int, width: int) -> bytes:
    if not 0 <= value < 1 << (8 * width):
        raise ValueError(f"{value} does not fit in u{8 * width}")
    return value.to_bytes(width, "little")


def u8(value: int) -> bytes:
    return _unsigned(value, 1)


def u16(value: int) -> bytes:
    return _unsigned(value, 2)


def u32(value: int) -> bytes:
    return _unsigned(value, 4)


def u64(value: int) -> bytes:
    return _unsigned(value, 8)


def boolean(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def byte_vector(value: bytes) -> bytes:
    """``vector<u8>``: the length, then the bytes."""
    return uleb128(len(value)) + value


def string(value: str) -> bytes:
    """``std::string::String``: its UTF-8 bytes as a ``vector<u8>``."""
    return byte_vector(value.encode("utf-8"))


def address(value: str) -> bytes:
    """A Sui ``address`` (``0x`` + hex, zero-padded to 32 bytes); no length prefix."""
    digits = value.removeprefix("0x")
    if not digits or len(digits) > 2 * ADDRESS_LENGTH:
        raise ValueError(f"not a Sui address: {value!r}")
    return bytes.fromhex(digits.rjust(2 * ADDRESS_LENGTH, "0"))


def vector(encoded_items: Iterable[bytes]) -> bytes:
    """``vector<T>`` from items already encoded as ``T``."""
    items = list(encoded_items)
    return uleb128(len(items)) + b"".join(items)
