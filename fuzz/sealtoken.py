"""Fuzz the Seal token parser and verifier (k3s_daas.sealtoken): any text in, a verified token or a
``TokenRejected`` out, never another exception; an accepted token is bound to its signer.

    python fuzz/sealtoken.py -runs=5000 fuzz/corpus/sealtoken
"""

from __future__ import annotations

import _harness

_harness.instrumented("k3s_daas.sealtoken", "k3s_daas.sui.crypto", "jwt")

from k3s_daas.sealtoken import (  # noqa: E402 - after instrumentation on purpose
    API_TOKEN,
    JOIN_REQUEST,
    TokenRejected,
    join_audience,
    verify_token,
)


def as_text(data: bytes) -> str:
    """Bytes as the webhook would get them from JSON: any Unicode, lone surrogates included."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def test_one_input(data: bytes) -> None:
    token = as_text(data)
    for profile, audience in ((API_TOKEN, _harness.CLUSTER_ID), (JOIN_REQUEST, join_audience(_harness.CLUSTER_ID))):
        for checked_audience in (audience, None):
            try:
                verified = verify_token(token, audience=checked_audience, now=_harness.NOW, profile=profile)
            except TokenRejected as rejection:
                # Messages quote fixed text and short, truncated claims; never a whole token.
                _harness.expect(len(token) < 40 or token not in str(rejection), "a rejection quotes the token")
                continue
            _harness.expect(verified.claims.subject == verified.signer.address, "accepted with sub != signer")
            _harness.expect(len(token) <= 4096, "accepted a token over the size cap")


if __name__ == "__main__":
    _harness.fuzz(test_one_input)
