"""Fixtures of the webhook's protocol tests: TLS files, a background loop, the server, a fake API
(defined in webhook_testing.py, which tests/security shares)."""

from __future__ import annotations

from webhook_testing import fake_api, loop_thread, start_webhook, tls

# Named here so pytest registers them for this folder (and ruff sees them used).
__all__ = ["fake_api", "loop_thread", "start_webhook", "tls"]
