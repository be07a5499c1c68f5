"""Decoding the arguments of a signed entry-function call into the values the Move code sees.

Each parser takes the parameter's name (for the error message) and the JSON value the sender
signed, and returns the value in localnet's stored form (``move.py``: u64 and ids as strings,
``vector<u8>`` as Base64) or raises ``InvalidTransaction``: a malformed argument is refused before
any Move code runs, as Sui refuses a transaction whose pure arguments do not deserialize.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Final

from k3s_daas.localnet.move import canonical_address
from k3s_daas.localnet.state import InvalidTransaction

Parser = Callable[[str, object], object]

_U8_MAX: Final = 2**8 - 1
_U16_MAX: Final = 2**16 - 1
_U64_MAX: Final = 2**64 - 1


def _unsigned(bits_max: int) -> Callable[[str, object], int]:
    def parse(name: str, value: object) -> int:
        if isinstance(value, bool):
            raise InvalidTransaction(f"argument {name!r} must be an unsigned integer, got a boolean")
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or not 0 <= value <= bits_max:
            raise InvalidTransaction(f"argument {name!r} must be an integer from 0 to {bits_max}")
        return value

    return parse


def string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTransaction(f"argument {name!r} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidTransaction(f"argument {name!r} is not valid UTF-8") from None
    return value


def strings(name: str, value: object) -> list[str]:
    if not isinstance(value, list):
        raise InvalidTransaction(f"argument {name!r} must be a list of strings")
    return [string(f"{name}[{index}]", item) for index, item in enumerate(value)]


def object_id(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTransaction(f"argument {name!r} must be an object id (0x...)")
    try:
        return canonical_address(value)
    except ValueError:
        raise InvalidTransaction(f"argument {name!r}: {value!r} is not an object id (0x...)") from None


def bytes_b64(name: str, value: object) -> str:
    """``vector<u8>``, as Base64 (Sui's JSON form of byte vectors)."""
    if not isinstance(value, str):
        raise InvalidTransaction(f"argument {name!r} must be Base64 bytes")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidTransaction(f"argument {name!r} must be Base64 bytes") from None
    return value


U8: Final[Parser] = _unsigned(_U8_MAX)
U16: Final[Parser] = _unsigned(_U16_MAX)
U64: Final[Parser] = _unsigned(_U64_MAX)
