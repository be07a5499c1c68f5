"""Fuzz Sui signature decoding and verification (k3s_daas.sui.crypto), the bech32 ``suiprivkey`` and
address parsers: malformed input is a ``SignatureError`` / ``KeystoreError``, never a crash.

Input framing: 2 bytes big-endian message length, the message, then the serialized signature text.

    python fuzz/signature.py -runs=5000 fuzz/corpus/signature
"""

from __future__ import annotations

import contextlib

import _harness

_harness.instrumented("k3s_daas.sui")

from k3s_daas.sui.crypto import SignatureError, normalize_address, verify_personal_message  # noqa: E402
from k3s_daas.sui.keystore import KeystoreError, parse_suiprivkey  # noqa: E402


def split(data: bytes) -> tuple[bytes, str]:
    length = int.from_bytes(data[:2], "big")
    return data[2 : 2 + length], data[2 + length :].decode("latin-1")


def test_one_input(data: bytes) -> None:
    message, signature = split(data)
    try:
        signer = verify_personal_message(message, signature)
    except SignatureError:
        pass
    else:
        # An accepted signature names its own signer and verifies again for that address only.
        again = verify_personal_message(message, signature, expected_address=signer.address)
        _harness.expect(again == signer, "verification is not deterministic")
    with contextlib.suppress(SignatureError):
        normalize_address(signature)
    with contextlib.suppress(KeystoreError):
        parse_suiprivkey(signature)


if __name__ == "__main__":
    _harness.fuzz(test_one_input)
