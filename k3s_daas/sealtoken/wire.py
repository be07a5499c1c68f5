"""The textual form of a Seal token, as docs/seal-token.md specifies it.

    token          = PREFIX header "." payload "." signature
    signed message = PREFIX header "." payload          (UTF-8, signed as a Sui personal message)

``header`` and ``payload`` are base64url (no padding) JSON objects, ``signature`` is the Sui
serialized signature (flag || signature || public key) in base64url without padding. The prefix is
part of the signed bytes, so a signature made for this format can never be replayed as some other
application's personal message, and the version can only change with a new signature.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

PREFIX: Final = "k3s-daas-v1."
"""Versioned prefix. Its dot also keeps Kubernetes' JWT authenticators (service accounts, OIDC) from
mistaking a Seal token for one of theirs: they only consider tokens with exactly three segments."""

ALGORITHM: Final = "SuiPersonalMessage"
"""The JWS ``alg``: the signature is a Sui personal-message signature over the signed message."""

TYPE: Final = "JWT"

MAX_TOKEN_BYTES: Final = 4096
"""Whole-token cap, checked before any decoding so a hostile token cannot make the verifier work."""

_SEGMENT: Final = r"[A-Za-z0-9_-]+"
# Three non-empty base64url segments without padding, nothing else (no whitespace, no '=').
JWS_SHAPE: Final = re.compile(rf"{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding; raises ValueError for anything else."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url without padding") from None
    # Reject non-canonical encodings (stray low bits in the last character): one token, one text.
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def sui_signature_to_segment(serialized_b64: str) -> str:
    """A wallet's signature (standard base64 with padding) as the token's third segment."""
    return serialized_b64.replace("+", "-").replace("/", "_").rstrip("=")


def segment_to_sui_signature(raw: bytes) -> str:
    """Decoded signature bytes back to the standard base64 that Sui's verifier takes."""
    return base64.b64encode(raw).decode("ascii")


def signed_message(header_segment: str, payload_segment: str) -> bytes:
    """The exact bytes the signer signs as a Sui personal message."""
    return f"{PREFIX}{header_segment}.{payload_segment}".encode("ascii")
