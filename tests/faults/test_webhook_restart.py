"""Webhook restarted under load (issue 8, point 2), through the real API server's token authenticator.

Threads send requests with Seal tokens to the API server while the webhook process is stopped (SIGTERM)
and started again. A token that must fail (its on-chain token revoked) never succeeds, and a token that
must succeed fails only inside the restart window (from the stop until /readyz is 200 again, plus the
API server's retry backoff), never after it.
"""

from __future__ import annotations

import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from faults_testing import SUI, Chain, apply, get_json, new_key, sealtoken_resource, wait_for

from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.processes import ManagedProcess, spawn, stop, wait_until_ready
from k3s_daas.controlplane.webhook_wiring import WebhookEndpoint
from k3s_daas.sealtoken import api_claims, sign

pytestmark = pytest.mark.cluster

USER = 0
CLUSTER_ID = "faults-cluster"
CLI = str(Path(sys.executable).with_name("k3s-daas"))
SLACK_S = 5.0
"""After /readyz is back: the API server's webhook retry backoff (0.5 s x1.5, 5 steps) ends within this."""


class Webhook:
    def __init__(self, endpoint: WebhookEndpoint, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.endpoint = endpoint
        self.log = log
        self.argv = [
            CLI, "webhook", "serve", "--port", str(endpoint.port), "--cert-file", str(endpoint.cert_file),
            "--key-file", str(endpoint.key_file), "--cluster-id", CLUSTER_ID, "--kubeconfig", str(kubeconfig),
            "--project-namespace", namespace, "--node-guard-policy", "",
        ]  # fmt: skip
        self.marker = str(kubeconfig)
        self.process: ManagedProcess | None = None

    def start(self) -> float:
        self.process = spawn("webhook", self.argv, self.log, self.marker, tie_to_parent=True)
        context = ssl.create_default_context(cafile=str(self.endpoint.ca_file))
        wait_until_ready(self.process, f"{self.endpoint.url}/readyz", context, self.log, time.monotonic() + 60)
        return time.monotonic()

    def stop(self) -> float:
        """SIGTERM (graceful: /readyz 503 first, then the listener closes); returns when that began."""
        began = time.monotonic()
        if self.process is not None:
            stop([self.process], grace_s=30)
        return began


def _get(server: str, ca: Path, token: str) -> int:
    request = urllib.request.Request(
        f"{server}/api/v1/namespaces/default/configmaps", headers={"Authorization": f"Bearer {token}"}
    )
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_no_request_succeeds_that_should_fail_and_failures_stay_in_the_restart_window(
    control_plane: cluster.RunningCluster,
    kubectl,
    chain: Chain,
    namespace: str,
    webhook_endpoint: WebhookEndpoint,
    start_operator,
    tmp_path: Path,
) -> None:
    good, bad = new_key(), new_key()
    names = []
    for key in (good, bad):
        record = chain.stake(key, USER, SUI)
        token = chain.issue(key, record, ["configmaps:get", "configmaps:list"])
        name = f"restart-{key.address[2:10]}"
        names.append((name, key, token))
        apply(kubectl, sealtoken_resource(name, key.address, token))
    start_operator("--verify-interval=1")
    chain.revoke(bad, names[1][2])

    def phase(name: str) -> Any:
        return ((get_json(kubectl, "sealtokens", name) or {}).get("status") or {}).get("phase")

    wait_for("good Active", lambda: phase(names[0][0]) == "Active", timeout=60)
    wait_for("bad Revoked", lambda: phase(names[1][0]) == "Revoked", timeout=60)
    webhook = Webhook(webhook_endpoint, control_plane.admin_kubeconfig, namespace, tmp_path / "webhook.log")
    webhook.start()
    now = int(time.time())
    tokens = {
        "good": sign(good, api_claims(good.address, CLUSTER_ID, now, 600)),
        "bad": sign(bad, api_claims(bad.address, CLUSTER_ID, now, 600)),
    }
    wait_for("the good token works", lambda: _get(control_plane.server, control_plane.ca_file, tokens["good"]) == 200)

    results: list[tuple[float, str, int]] = []
    done = threading.Event()

    def load(kind: str) -> None:
        while not done.is_set():
            # A fresh token each time (new jti): the API server's cache cannot answer for a stopped webhook.
            token = sign(
                good if kind == "good" else bad,
                api_claims((good if kind == "good" else bad).address, CLUSTER_ID, int(time.time()), 600),
            )
            status = _get(control_plane.server, control_plane.ca_file, token)
            results.append((time.monotonic(), kind, status))

    threads = [threading.Thread(target=load, args=(kind,)) for kind in ("good", "bad", "good")]
    try:
        for thread in threads:
            thread.start()
        time.sleep(2)
        stopped = webhook.stop()
        time.sleep(1)
        ready = webhook.start()
        time.sleep(4)
    finally:
        done.set()
        for thread in threads:
            thread.join(60)
        webhook.stop()
    bad_ok = [r for r in results if r[1] == "bad" and r[2] == 200]
    assert not bad_ok, f"a revoked token's request succeeded: {bad_ok[:3]}"
    good_failed = [r for r in results if r[1] == "good" and r[2] != 200]
    outside = [r for r in good_failed if not stopped - 0.5 <= r[0] <= ready + SLACK_S]
    assert not outside, f"good requests failed outside the restart window: {outside[:5]}"
    assert sum(1 for r in results if r[1] == "good" and r[2] == 200 and r[0] > ready) > 0
    assert sum(1 for r in results if r[1] == "bad") > 10
    for name, _, _ in names:
        kubectl("delete", "sealtoken", name, "--wait=false")
