"""Control plane restarted (issue 8, point 4): the webhook's watch-fed indexes list again, and /readyz
is 503 from the moment a watch is lost until that list is in.

The kube-apiserver is stopped (SIGTERM, as ``systemctl restart k3s`` does) and started again on the same
port and etcd. While it is down the webhook answers /readyz 503 (requests are still answered from the
last snapshot); after it is back /readyz turns 200 only once every collection has been listed again,
and a SealToken changed right after the restart is in the index.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from faults_testing import apply, sealtoken_resource, wait_for
from webhook_testing import call

from k3s_daas.controlplane import cluster

pytestmark = pytest.mark.cluster

OWNER = "0x" + "c4" * 32
TOKEN = "0x" + "c5" * 32


def _ready(port: int, ca: Any) -> tuple[int, str]:
    try:
        status, _, body = call(port, ca, "GET", "/readyz")
    except OSError as error:
        return 0, str(error)
    return status, body.decode() if isinstance(body, bytes) else str(body)


def _metric_sum(port: int, ca: Any, name: str) -> float:
    _, _, body = call(port, ca, "GET", "/metrics")
    text = body.decode() if isinstance(body, bytes) else str(body)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_readyz_is_false_from_a_lost_watch_until_the_relist(
    control_plane: cluster.RunningCluster, kubectl, crds, start_webhook
) -> None:
    webhook = start_webhook()
    wait_for("webhook ready", lambda: _ready(webhook.port, webhook.ca)[0] == 200, timeout=30)
    lists_before = _metric_sum(webhook.port, webhook.ca, "k3s_daas_index_watch_restarts_total")
    seen_while_down: list[tuple[int, str]] = []

    def while_down() -> None:
        # Every watch notices the API server is gone; /readyz says so (the process still answers).
        wait_for("readyz 503 while the API server is down", lambda: _ready(webhook.port, webhook.ca)[0] == 503)
        time.sleep(1)
        seen_while_down.append(_ready(webhook.port, webhook.ca))

    cluster.restart_apiserver(control_plane.state_dir, tie_to_parent=True, while_down=while_down)
    assert seen_while_down and seen_while_down[0][0] == 503, seen_while_down
    assert "resyncing" in seen_while_down[0][1]
    # Right after the restart, a change: once ready again, the index holds it (the list is complete).
    name = f"restart-{int(time.time())}"
    wait_for("API server answers", lambda: kubectl("get", "--raw", "/readyz", check=False).returncode == 0)
    apply(kubectl, sealtoken_resource(name, OWNER, TOKEN))
    wait_for("webhook ready again", lambda: _ready(webhook.port, webhook.ca)[0] == 200, timeout=60)
    assert _metric_sum(webhook.port, webhook.ca, "k3s_daas_index_watch_restarts_total") > lists_before
    holder = webhook.webhook.state.holder
    wait_for("the new SealToken indexed", lambda: name in holder.snapshot.by_name, timeout=30)
    kubectl("delete", "sealtoken", name, "--wait=false")
