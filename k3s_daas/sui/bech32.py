"""Bech32 (BIP 173, not Bech32m), the text form of Sui's ``suiprivkey1...`` secret keys.

Small enough to keep here rather than depend on a package for it. Error messages describe the
structure only and never echo the input: the payloads this module carries are secrets.
"""

from __future__ import annotations

from typing import Final

__all__ = ["Bech32Error", "decode", "encode"]

_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX: Final = {char: index for index, char in enumerate(_CHARSET)}
_GENERATORS: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONSTANT: Final = 1
_CHECKSUM_LENGTH: Final = 6
# BIP 173's limit; a suiprivkey is 70 characters.
MAX_LENGTH: Final = 90


class Bech32Error(ValueError):
    """Text that is not valid Bech32."""


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _convert_bits(data: list[int] | bytes, from_bits: int, to_bits: int, pad: bool) -> list[int]:
    accumulator = 0
    bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((accumulator >> bits) & max_value)
    if pad:
        if bits:
            out.append((accumulator << (to_bits - bits)) & max_value)
    elif bits >= from_bits or (accumulator << (to_bits - bits)) & max_value:
        raise Bech32Error("bech32 data has invalid padding")
    return out


def encode(hrp: str, payload: bytes) -> str:
    """Bech32-encode ``payload`` (8-bit bytes) under the human-readable part ``hrp``."""
    words = _convert_bits(payload, 8, 5, pad=True)
    checksum = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ _BECH32_CONSTANT
    check_words = [(checksum >> 5 * (5 - i)) & 31 for i in range(_CHECKSUM_LENGTH)]
    return hrp + "1" + "".join(_CHARSET[word] for word in words + check_words)


def decode(text: str) -> tuple[str, bytes]:
    """Split Bech32 text into (human-readable part, payload bytes); raise ``Bech32Error``."""
    if len(text) > MAX_LENGTH:
        raise Bech32Error(f"bech32 text is {len(text)} characters, more than {MAX_LENGTH}")
    if any(not 33 <= ord(char) <= 126 for char in text):
        raise Bech32Error("bech32 text contains a space or a non-ASCII character")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("bech32 text mixes upper and lower case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1:
        raise Bech32Error("bech32 text has no human-readable part before the separator '1'")
    if len(text) - separator - 1 < _CHECKSUM_LENGTH:
        raise Bech32Error("bech32 text is too short to hold a checksum")
    hrp = text[:separator]
    try:
        words = [_CHARSET_INDEX[char] for char in text[separator + 1 :]]
    except KeyError:
        raise Bech32Error("bech32 data contains a character outside the bech32 alphabet") from None
    if _polymod([*_hrp_expand(hrp), *words]) != _BECH32_CONSTANT:
        raise Bech32Error("bech32 checksum does not match (mistyped or truncated?)")
    return hrp, bytes(_convert_bits(words[:-_CHECKSUM_LENGTH], 5, 8, pad=False))
