"""Fixtures of the security cases: the webhook's protocol-test helpers (tests/webhook/webhook_testing.py,
shared rather than copied), a webhook with an Active SealToken, and /join over the fake API."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "webhook"))

from webhook_testing import FakeKubeApi, RunningWebhook, fake_api, loop_thread, sealtoken, start_webhook, tls

from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas_webhook.index import IdentitySnapshot, IndexHolder, entry_from_resource

CLUSTER = "test-cluster"
OBJECT = "0x" + "ab" * 32

# The webhook tests' fixtures, named here so pytest registers them for this folder.
__all__ = ["fake_api", "loop_thread", "start_webhook", "tls"]


@pytest.fixture
def alice() -> Keypair:
    return Keypair.generate(SignatureScheme.ED25519)


@pytest.fixture
def active(alice: Keypair) -> IndexHolder:
    """The index of a webhook where alice holds an Active user token."""
    entry = entry_from_resource(sealtoken("alice", alice.address, OBJECT, expires_at=time.time() + 3600))
    assert entry is not None
    return IndexHolder(IdentitySnapshot.build([entry]), synced=True)


@pytest.fixture
def join_webhook(start_webhook, fake_api: FakeKubeApi, tmp_path: Path) -> tuple[RunningWebhook, FakeKubeApi, str]:
    """A webhook serving /join over the fake API; the sha256 of the CA bundle in its K10 tokens."""
    ca_bundle = tmp_path / "cluster-ca.crt"
    ca_bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\nsecurity test CA\n-----END CERTIFICATE-----\n")
    webhook = start_webhook(
        watch=True, kubeconfig=str(fake_api.kubeconfig(tmp_path / "kubeconfig")), cluster_ca_file=str(ca_bundle)
    )
    return webhook, fake_api, hashlib.sha256(ca_bundle.read_bytes()).hexdigest()
