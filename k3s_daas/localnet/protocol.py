"""The signed write request of localnet: an entry-function call as a Sui personal message.

A real network takes a BCS ``TransactionData`` signed with the transaction intent; localnet
takes this JSON document, UTF-8 encoded, signed as a personal message (what any Sui wallet can
sign), and verifies it before running the call:

    {"v": 1, "chain": "<chainIdentifier>", "sender": "0x<64 hex>", "timestampMs": <ms>,
     "nonce": "<32 hex>", "call": {"module": "staking", "function": "stake",
     "arguments": {"amount": "500000000", "role": 0, "node_name": ""}}}

The server checks the chain id (a signature for one localnet is useless on another), that the
signer is ``sender``, that ``timestampMs`` is within ``MAX_SKEW_MS`` of its wall clock, and that
the exact message was never submitted before (digest recorded even when the call aborts).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from k3s_daas.errors import UserError
from k3s_daas.localnet.move import MoveTypeError, canonical_address
from k3s_daas.localnet.state import Call
from k3s_daas.sui.crypto import Keypair, SignatureError, verify_personal_message

VERSION: Final = 1
MAX_SKEW_MS: Final = 300_000
MAX_MESSAGE_BYTES: Final = 64 * 1024


class BadRequest(UserError):
    """The signed request is malformed, for another chain, stale, or does not verify."""


@dataclass(frozen=True, slots=True)
class SignedCall:
    message: bytes
    signature: str


@dataclass(frozen=True, slots=True)
class VerifiedCall:
    call: Call
    sender: str
    message: bytes
    signature: str


def sign_call(key: Keypair, chain_identifier: str, call: Call, now_ms: int) -> SignedCall:
    document = {
        "v": VERSION,
        "chain": chain_identifier,
        "sender": key.address,
        "timestampMs": now_ms,
        "nonce": secrets.token_hex(16),
        "call": {"module": call.module, "function": call.function, "arguments": dict(call.arguments)},
    }
    message = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return SignedCall(message, key.sign_personal_message(message))


def verify_call(signed: SignedCall, chain_identifier: str, now_ms: int) -> VerifiedCall:
    if len(signed.message) > MAX_MESSAGE_BYTES:
        raise BadRequest(f"signed call is {len(signed.message)} bytes, more than {MAX_MESSAGE_BYTES}")
    try:
        document = json.loads(signed.message.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
        raise BadRequest("signed call is not UTF-8 JSON") from None
    if not isinstance(document, dict) or document.get("v") != VERSION:
        raise BadRequest(f'signed call must be a JSON object with "v": {VERSION}')
    if document.get("chain") != chain_identifier:
        raise BadRequest(f"signed call is for chain {document.get('chain')!r}, this localnet is {chain_identifier!r}")
    timestamp = document.get("timestampMs")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise BadRequest('signed call needs an integer "timestampMs"')
    if abs(timestamp - now_ms) > MAX_SKEW_MS:
        raise BadRequest(
            f"signed call is dated {timestamp} ms, more than {MAX_SKEW_MS // 1000} s from the server's "
            f"clock ({now_ms} ms): sign it again (and check the clocks)"
        )
    nonce = document.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise BadRequest('signed call needs a "nonce" of 16 to 64 characters')
    sender = document.get("sender")
    try:
        sender = canonical_address(sender) if isinstance(sender, str) else None
    except MoveTypeError:
        sender = None
    if sender is None:
        raise BadRequest('signed call needs a "sender" address')
    call = document.get("call")
    if (
        not isinstance(call, dict)
        or not isinstance(call.get("module"), str)
        or not isinstance(call.get("function"), str)
        or not isinstance(call.get("arguments"), dict)
    ):
        raise BadRequest('signed call needs "call": {"module", "function", "arguments": {...}}')
    try:
        signer = verify_personal_message(signed.message, signed.signature, expected_address=sender)
    except SignatureError as error:
        raise BadRequest(f"signature rejected: {error}") from None
    arguments: Mapping[str, object] = call["arguments"]
    return VerifiedCall(
        Call(call["module"], call["function"], arguments), signer.address, signed.message, signed.signature
    )
