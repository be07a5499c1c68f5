"""First-seen tokens verified in worker processes: concurrent requests, rejections carried back
with their reason, and a worker that dies costs a retry (503), never a wrong answer."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time

from webhook_testing import call, sealtoken, token_review

from k3s_daas.sealtoken import api_claims, sign
from k3s_daas.sui import Keypair, SignatureScheme
from k3s_daas_webhook.index import IdentitySnapshot, IndexHolder, entry_from_resource

KEYS = [Keypair.generate(scheme) for scheme in SignatureScheme for _ in range(3)]


def _holder() -> IndexHolder:
    resources = [
        sealtoken(f"t{index}", key.address, "0x" + f"{index:064x}", expires_at=time.time() + 3600)
        for index, key in enumerate(KEYS)
    ]
    return IndexHolder(IdentitySnapshot.build(filter(None, map(entry_from_resource, resources))), synced=True)


def _review(webhook, token):
    return call(webhook.port, webhook.ca, "POST", "/authenticate", token_review(token))


def test_concurrent_first_seen_tokens_through_the_workers(start_webhook):
    webhook = start_webhook(holder=_holder(), verify_workers=2)
    now = int(time.time())
    good = [sign(key, api_claims(key.address, "test-cluster", now, 600)) for key in KEYS for _ in range(10)]
    bad = [token[:-6] + "AAAAAA" for token in good[:9]]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda token: _review(webhook, token), good + bad))
    assert all(status == 200 for status, _, _ in answers)
    assert all(body["status"]["authenticated"] for _, _, body in answers[: len(good)])
    for _, _, body in answers[len(good) :]:
        assert body["status"]["authenticated"] is False
        assert body["status"]["error"].startswith("k3s-daas: bad_signature:")


def test_a_dead_worker_is_replaced(start_webhook):
    webhook = start_webhook(holder=_holder(), verify_workers=1)
    pool = webhook.webhook.pool
    assert pool is not None
    first = pool._pool[0].process.pid
    os.kill(first, signal.SIGKILL)
    key = KEYS[0]
    deadline = time.monotonic() + 30
    while True:
        token = sign(key, api_claims(key.address, "test-cluster", int(time.time()), 600))
        status, _, body = _review(webhook, token)
        if status == 200:
            break
        assert status == 503  # transient while the replacement starts: the API server retries
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert body["status"]["authenticated"] is True
    assert pool._pool[0].process.pid != first
