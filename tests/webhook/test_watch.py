"""The identity index follows SealTokens through list + watch (fake API over real HTTP):
changes take effect without a restart, 410 Gone relists, /readyz waits for the first list."""

from __future__ import annotations

import time

from webhook_testing import call, sealtoken, token_review

from k3s_daas.sealtoken import api_claims, sign
from k3s_daas.sui import Keypair, SignatureScheme

OBJECT = "0x" + "ab" * 32


def _eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


def _authenticated(webhook, token) -> bool:
    status, _, body = call(webhook.port, webhook.ca, "POST", "/authenticate", token_review(token))
    return status == 200 and body["status"]["authenticated"]


def test_index_follows_the_watch_and_relists_after_410(start_webhook, fake_api, tmp_path):
    key = Keypair.generate(SignatureScheme.SECP256R1)
    token = sign(key, api_claims(key.address, "test-cluster", int(time.time()), 600))
    fake_api.put_sealtoken(sealtoken("alice", key.address, OBJECT, phase="Pending", expires_at=time.time() + 3600))

    webhook = start_webhook(watch=True, kubeconfig=str(fake_api.kubeconfig(tmp_path / "kubeconfig")))
    assert _eventually(lambda: call(webhook.port, webhook.ca, "GET", "/readyz")[0] == 200)
    assert fake_api.unauthorized == 0  # the kubeconfig's bearer token was used
    assert not _authenticated(webhook, token)

    # The operator marks it Active: the next review authenticates, no restart.
    fake_api.put_sealtoken(sealtoken("alice", key.address, OBJECT, expires_at=time.time() + 3600))
    assert _eventually(lambda: _authenticated(webhook, token))

    # Revoked: refused again (the verified-signature cache does not cache the decision).
    fake_api.put_sealtoken(sealtoken("alice", key.address, OBJECT, phase="Revoked", expires_at=time.time() + 3600))
    assert _eventually(lambda: not _authenticated(webhook, token))

    # etcd compacted past the watch: 410 Gone, the watcher lists again and sees the current state.
    lists = fake_api.lists
    fake_api.compact()
    fake_api.sealtokens["alice"]["status"]["phase"] = "Active"  # changed while nobody watched
    assert _eventually(lambda: fake_api.lists > lists)
    assert _eventually(lambda: _authenticated(webhook, token))

    fake_api.delete_sealtoken("alice")
    assert _eventually(lambda: not _authenticated(webhook, token))
    assert (
        'k3s_daas_index_watch_restarts_total{cause="gone"}'
        in call(webhook.port, webhook.ca, "GET", "/metrics")[2].decode()
    )


def test_unreachable_api_keeps_the_server_unready(start_webhook, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
    webhook = start_webhook(watch=True, kubeconfig=str(kubeconfig))
    time.sleep(0.3)
    assert call(webhook.port, webhook.ca, "GET", "/readyz")[0] == 503
    assert call(webhook.port, webhook.ca, "GET", "/healthz")[0] == 200
