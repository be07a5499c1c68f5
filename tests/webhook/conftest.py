"""Fixtures of the webhook's protocol tests: TLS files, a background loop, the server, a fake API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from webhook_testing import FakeKubeApi, LoopThread, RunningWebhook, TLSFiles, make_tls, webhook_settings

from k3s_daas_webhook.admission_state import AdmissionSources
from k3s_daas_webhook.index import IndexHolder


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def start_webhook(loop_thread: LoopThread, tls: TLSFiles) -> Iterator[Callable[..., RunningWebhook]]:
    """Start webhooks (settings, index, clock choosable); all are stopped at the end of the test."""
    started: list[RunningWebhook] = []

    def start(
        *,
        holder: IndexHolder | None = None,
        clock: Any = None,
        watch: bool = False,
        admission: AdmissionSources | None = None,
        **settings: Any,
    ) -> RunningWebhook:
        webhook = RunningWebhook(loop_thread, webhook_settings(tls, **settings), holder, clock, admission)
        webhook.ca = tls.ca
        started.append(webhook.start(watch=watch))
        return webhook

    yield start
    for webhook in started:
        webhook.stop()


@pytest.fixture
def fake_api(loop_thread: LoopThread, tmp_path: Path) -> Iterator[FakeKubeApi]:
    api = FakeKubeApi(loop_thread).start()
    yield api
    api.stop()
