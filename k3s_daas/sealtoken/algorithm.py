"""The Seal token's JWS algorithm for pyjwt, on a private pyjwt instance.

pyjwt's registry is process-global by default; registering there would make every other user of
pyjwt in this process accept (or be confused by) our algorithm. Instead one private ``PyJWS`` is
created with *no* default algorithms at all, our algorithm is registered on it, and the ``PyJWT``
that validates claims uses it. ``none`` and HMAC cannot be reached through it even by mistake.

The "key" pyjwt hands to :meth:`SuiPersonalMessageAlgorithm.verify` is a :class:`SignatureCheck`:
the public key travels inside the signature, so there is nothing to look up beforehand; the check
records who signed (or why it failed) for the caller to bind the address to the ``sub`` claim.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

import jwt
from jwt.algorithms import Algorithm

from k3s_daas.sealtoken.wire import ALGORITHM, PREFIX, segment_to_sui_signature
from k3s_daas.sui.crypto import Keypair, SignatureError, VerifiedSigner, verify_personal_message

_PREFIX_BYTES = PREFIX.encode("ascii")


@dataclass(slots=True)
class SignatureCheck:
    """Filled in by the algorithm: the verified signer, or the reason the signature failed."""

    signer: VerifiedSigner | None = None
    error: str | None = None


class SuiPersonalMessageAlgorithm(Algorithm):
    """JWS algorithm: a Sui personal-message signature over ``PREFIX || header "." payload``."""

    def prepare_key(self, key: Any) -> Any:
        if not isinstance(key, SignatureCheck | Keypair):
            raise TypeError("SuiPersonalMessage takes a SignatureCheck (verify) or a Keypair (sign)")
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        if not isinstance(key, Keypair):
            raise TypeError("SuiPersonalMessage signs with a k3s_daas.sui.Keypair")
        return base64.b64decode(key.sign_personal_message(_PREFIX_BYTES + msg))

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        if not isinstance(key, SignatureCheck):
            raise TypeError("SuiPersonalMessage verifies into a SignatureCheck")
        try:
            key.signer = verify_personal_message(_PREFIX_BYTES + msg, segment_to_sui_signature(sig))
        except SignatureError as error:
            key.error = str(error)
            return False
        return True

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> NoReturn:
        raise NotImplementedError("Sui keys have no JWK form; the public key is inside each signature")

    @staticmethod
    def from_jwk(jwk: Any) -> NoReturn:
        raise NotImplementedError("Sui keys have no JWK form; the public key is inside each signature")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of duplicate keys, other parsers the first: refusing duplicates
    # means every verifier reads the same claims from the same bytes.
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"duplicate key {name!r}")
        out[name] = value
    return out


def loads_strict(data: bytes) -> Any:
    """JSON without duplicate object keys (ValueError otherwise)."""
    return json.loads(data, object_pairs_hook=_no_duplicate_keys)


_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")


class _SealJWS(jwt.PyJWS):
    """pyjwt's JWS with a faster segment decoder (same rules: strict alphabet, canonical encoding).

    pyjwt checks the alphabet one byte at a time in a generator, a third of the Python time of a
    first-seen verification; a compiled pattern does the same check in C. Padding is not accepted
    at all (the token format has none), which is stricter than pyjwt. Covered by the vector tests.
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        if _BASE64URL.fullmatch(segment) is None or len(segment) % 4 == 1:
            raise jwt.DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
        except (binascii.Error, ValueError):
            raise jwt.DecodeError(f"Invalid {name} padding") from None
        if base64.urlsafe_b64encode(decoded).rstrip(b"=") != segment:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


class _SealJWT(jwt.PyJWT):
    """pyjwt's claim validation on top of the private, Sui-only JWS instance."""

    def __init__(self) -> None:
        super().__init__()
        jws = _SealJWS(algorithms=[])
        jws.register_algorithm(ALGORITHM, SuiPersonalMessageAlgorithm())
        self._jws = jws

    def _decode_payload(self, decoded: dict[str, Any]) -> dict[str, Any]:
        try:
            payload = loads_strict(decoded["payload"])
        except (ValueError, RecursionError) as error:
            raise jwt.DecodeError(f"payload is not valid JSON: {error}") from None
        if not isinstance(payload, dict):
            raise jwt.DecodeError("payload must be a JSON object")
        return payload


SEAL_JWT = _SealJWT()
"""The only pyjwt instance that handles Seal tokens. Stateless after construction: thread-safe."""
