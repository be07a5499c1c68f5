"""Verify a Seal token: pure, local (no network), returning typed claims or a typed rejection.

The order of checks is part of the contract (docs/seal-token.md): cheap structural checks first, the
signature before any claim is believed, time last. ``now`` is a parameter so the same function serves
the webhook, ``token inspect`` and tests with recorded vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import jwt

from k3s_daas.sealtoken.algorithm import SEAL_JWT, SignatureCheck, loads_strict
from k3s_daas.sealtoken.claims import API_TOKEN, ClaimProfile, SealClaims, parse_claims
from k3s_daas.sealtoken.rejection import Rejection, TokenRejected
from k3s_daas.sealtoken.wire import ALGORITHM, JWS_SHAPE, MAX_TOKEN_BYTES, PREFIX, TYPE, b64url_decode
from k3s_daas.sui.crypto import VerifiedSigner

DEFAULT_LEEWAY_S: Final = 30
"""Clock skew tolerated on exp, nbf and iat."""
DEFAULT_MAX_LIFETIME_S: Final = 900
"""Longest exp - iat accepted: a stolen token is useful for at most this long."""

_ALLOWED_HEADER: Final = frozenset({"alg", "typ"})
_FORBIDDEN_ALGORITHMS: Final = frozenset({"none", "HS256", "HS384", "HS512"})


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    claims: SealClaims
    signer: VerifiedSigner

    @property
    def address(self) -> str:
        return self.signer.address


def _reject(reason: Rejection, message: str) -> TokenRejected:
    return TokenRejected(reason, message)


def _check_header(segment: str) -> None:
    try:
        header = loads_strict(b64url_decode(segment))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise _reject(Rejection.MALFORMED, "header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise _reject(Rejection.MALFORMED, "header must be a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise _reject(Rejection.MALFORMED, "header has no 'alg' string")
    if alg in _FORBIDDEN_ALGORITHMS or alg.lower() == "none":
        raise _reject(Rejection.FORBIDDEN_ALGORITHM, f"algorithm {alg[:32]!r} is never accepted")
    if alg != ALGORITHM:
        raise _reject(Rejection.UNKNOWN_ALGORITHM, f"algorithm {alg[:32]!r} is not {ALGORITHM!r}")
    extra = sorted(set(header) - _ALLOWED_HEADER)
    if extra:
        names = ", ".join(repr(name[:32]) for name in extra[:5])
        raise _reject(Rejection.MALFORMED, f"header may only hold 'alg' and 'typ', not {names}")
    if header.get("typ", TYPE) != TYPE:
        raise _reject(Rejection.MALFORMED, f"header 'typ' must be {TYPE!r}")


def _decode(jws: str, audience: str | None, profile: ClaimProfile) -> tuple[dict[str, Any], VerifiedSigner]:
    check = SignatureCheck()
    options: dict[str, Any] = {
        # Time is checked below against the caller's `now`, so recorded vectors stay verifiable.
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "verify_iss": False,
        "verify_aud": audience is not None,
        "strict_aud": True,
        "require": sorted(profile.required),
    }
    try:
        decoded = SEAL_JWT.decode_complete(
            jws,
            key=check,  # type: ignore[arg-type]  # our algorithm's "key" is the check it fills in
            algorithms=[ALGORITHM],
            audience=audience,
            options=options,  # type: ignore[arg-type]
        )
    except jwt.InvalidSignatureError:
        raise _reject(Rejection.BAD_SIGNATURE, check.error or "signature does not verify") from None
    except jwt.InvalidAudienceError:
        raise _reject(Rejection.WRONG_AUDIENCE, f"token is not for audience {audience!r}") from None
    except jwt.MissingRequiredClaimError as error:
        raise _reject(Rejection.INVALID_CLAIMS, f"missing claim {error.claim!r}") from None
    except jwt.InvalidAlgorithmError:
        raise _reject(Rejection.UNKNOWN_ALGORITHM, f"algorithm is not {ALGORITHM!r}") from None
    except jwt.DecodeError as error:
        raise _reject(Rejection.MALFORMED, str(error)) from None
    except jwt.InvalidTokenError as error:
        raise _reject(Rejection.INVALID_CLAIMS, str(error)) from None
    if check.signer is None:  # pyjwt returned without calling verify: never expected
        raise _reject(Rejection.BAD_SIGNATURE, "signature was not checked")
    return decoded["payload"], check.signer


def verify_token(
    token: str,
    *,
    audience: str | None,
    now: float,
    profile: ClaimProfile = API_TOKEN,
    leeway_s: float = DEFAULT_LEEWAY_S,
    max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
) -> VerifiedToken:
    """Verify ``token`` at time ``now``; raise ``TokenRejected`` with the first failing check.

    ``audience`` None skips the audience check (``token inspect`` without a cluster id); everything
    else, including the signature and expiry, is always checked.
    """
    if len(token) > MAX_TOKEN_BYTES:
        raise _reject(Rejection.OVERSIZED, f"token is {len(token)} characters, more than {MAX_TOKEN_BYTES}")
    if not token.startswith(PREFIX):
        hint = " (a bare JWT? Seal tokens start with it)" if token.startswith("eyJ") else ""
        raise _reject(Rejection.WRONG_PREFIX, f"token does not start with {PREFIX!r}{hint}")
    jws = token[len(PREFIX) :]
    segments = jws.split(".")
    if len(segments) != 3:
        raise _reject(
            Rejection.MALFORMED, f"expected 3 segments separated by '.' after the prefix, got {len(segments)}"
        )
    # The header first, so `alg: none` (empty signature) and HMAC are named as such, not as malformed.
    _check_header(segments[0])
    if JWS_SHAPE.fullmatch(jws) is None:
        raise _reject(Rejection.MALFORMED, "payload and signature must be non-empty base64url without padding")
    payload, signer = _decode(jws, audience, profile)
    claims = parse_claims(payload, profile)
    if claims.subject != signer.address:
        raise _reject(
            Rejection.ADDRESS_MISMATCH,
            f"claim 'sub' is {claims.subject} but the signature's public key is {signer.address}",
        )
    _check_times(claims, now, leeway_s, max_lifetime_s)
    return VerifiedToken(claims, signer)


def _check_times(claims: SealClaims, now: float, leeway_s: float, max_lifetime_s: float) -> None:
    if now >= claims.expires_at + leeway_s:
        raise _reject(Rejection.EXPIRED, f"token expired at {claims.expires_at} (now {int(now)})")
    if claims.issued_at > now + leeway_s:
        raise _reject(Rejection.NOT_YET_VALID, f"token is issued in the future ({claims.issued_at}, now {int(now)})")
    if claims.not_before is not None and claims.not_before > now + leeway_s:
        raise _reject(Rejection.NOT_YET_VALID, f"token is not valid before {claims.not_before} (now {int(now)})")
    lifetime = claims.expires_at - claims.issued_at
    if lifetime > max_lifetime_s:
        raise _reject(
            Rejection.LIFETIME_TOO_LONG,
            f"token lives {lifetime} s (exp - iat), more than the {int(max_lifetime_s)} s allowed",
        )


def still_valid(claims: SealClaims, now: float, leeway_s: float = DEFAULT_LEEWAY_S) -> bool:
    """The expiry check alone, for a cache that already holds the verified claims."""
    return now < claims.expires_at + leeway_s
