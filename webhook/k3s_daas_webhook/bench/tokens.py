"""Keys, SealToken resources and signed tokens for the benchmark (generated before any clock runs)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from k3s_daas.sealtoken import api_claims, sign
from k3s_daas.sui import Keypair, SignatureScheme

SCHEMES = {
    "ed25519": SignatureScheme.ED25519,
    "secp256k1": SignatureScheme.SECP256K1,
    "secp256r1": SignatureScheme.SECP256R1,
}


def review_body(token: str) -> bytes:
    """A TokenReview as kube-apiserver sends it."""
    return json.dumps(
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "metadata": {"creationTimestamp": None},
            "spec": {"token": token},
            "status": {"user": {}},
        },
        separators=(",", ":"),
    ).encode()


def sealtoken_resource(name: str, owner: str, expires_at: float) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"owner": owner, "tokenObject": "0x" + format(abs(hash(name)), "x").rjust(64, "0")[-64:]},
        "status": {
            "phase": "Active",
            "role": "user",
            "stakeMist": "1000000000",
            "expiresAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at)),
        },
    }


def _sign_batch(job: tuple[int, bytes, str, int, int]) -> list[str]:
    scheme, secret, cluster_id, count, now = job
    key = Keypair.from_secret(SignatureScheme(scheme), secret)
    return [sign(key, api_claims(key.address, cluster_id, now, 600)) for _ in range(count)]


def sign_many(keys: list[Keypair], cluster_id: str, count: int, workers: int = 2) -> list[str]:
    """``count`` distinct tokens (fresh jti each) spread over ``keys``, signed in worker processes."""
    now = int(time.time())
    per_key, extra = divmod(count, len(keys))
    jobs = [
        (int(key.scheme), key.secret_bytes(), cluster_id, per_key + (1 if index < extra else 0), now)
        for index, key in enumerate(keys)
    ]
    with ProcessPoolExecutor(workers) as pool:
        batches = list(pool.map(_sign_batch, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
    # Interleave keys, so consecutive requests do not all come from one signer.
    tokens: list[str] = []
    for round_ in range(max(len(batch) for batch in batches)):
        tokens.extend(batch[round_] for batch in batches if round_ < len(batch))
    return tokens
