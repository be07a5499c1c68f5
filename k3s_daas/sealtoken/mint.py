"""Produce Seal tokens: with a local key (the exec plugin, ``join``), or in two steps for a wallet.

Two-step form for any signer (a browser wallet, a hardware key): ``signing_message(claims)`` gives
the exact bytes to pass to ``signPersonalMessage``; ``assemble(message, signature)`` turns the
wallet's base64 signature into the token. Minting with a :class:`Keypair` does exactly that.
"""

from __future__ import annotations

import json
import secrets

from k3s_daas.sealtoken.claims import SealClaims, join_audience
from k3s_daas.sealtoken.wire import ALGORITHM, PREFIX, TYPE, b64url_encode, signed_message, sui_signature_to_segment
from k3s_daas.sui.crypto import Keypair

HEADER_JSON = json.dumps({"alg": ALGORITHM, "typ": TYPE}, separators=(",", ":")).encode("ascii")
"""``{"alg":"SuiPersonalMessage","typ":"JWT"}``: the header every token this project mints carries."""


def _compact(document: dict[str, object]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signing_message(claims: SealClaims) -> bytes:
    """The bytes to sign as a Sui personal message: ``PREFIX || b64url(header) "." b64url(payload)``."""
    return signed_message(b64url_encode(HEADER_JSON), b64url_encode(_compact(claims.to_json())))


def assemble(message: bytes, serialized_signature_b64: str) -> str:
    """The token from the signed message and the signer's Sui serialized signature (base64)."""
    return message.decode("ascii") + "." + sui_signature_to_segment(serialized_signature_b64)


def sign(keypair: Keypair, claims: SealClaims) -> str:
    message = signing_message(claims)
    return assemble(message, keypair.sign_personal_message(message))


def new_token_id() -> str:
    """A random ``jti``: 128 bits, base64url."""
    return b64url_encode(secrets.token_bytes(16))


def api_claims(address: str, cluster_id: str, now: int, lifetime_s: int, seal_token: str | None = None) -> SealClaims:
    return SealClaims(
        subject=address,
        audience=cluster_id,
        issued_at=now,
        expires_at=now + lifetime_s,
        token_id=new_token_id(),
        seal_token=seal_token,
    )


def join_claims(address: str, cluster_id: str, node: str, now: int, lifetime_s: int) -> SealClaims:
    return SealClaims(
        subject=address,
        audience=join_audience(cluster_id),
        issued_at=now,
        expires_at=now + lifetime_s,
        token_id=new_token_id(),
        node=node,
    )


__all__ = ["HEADER_JSON", "PREFIX", "api_claims", "assemble", "join_claims", "new_token_id", "sign", "signing_message"]
