"""The loopback control plane is a real Kubernetes API server, driven by real kubectl."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.processes import StartFailed

pytestmark = pytest.mark.cluster

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.k3s-daas.io
spec:
  group: example.k3s-daas.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1, maximum: 10}
"""


def widget(name: str, size: object) -> str:
    return json.dumps(
        {"apiVersion": "example.k3s-daas.io/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": size}}
    )


def test_server_reports_the_pinned_version(kubectl, control_plane) -> None:
    versions = json.loads(kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"] == control_plane.version
    assert versions["clientVersion"]["gitVersion"] == control_plane.version


def test_crd_custom_resource_and_schema_validation(kubectl) -> None:
    kubectl("apply", "-f", "-", input=CRD)
    kubectl("wait", "--for=condition=Established", "crd/widgets.example.k3s-daas.io", "--timeout=30s")
    kubectl("create", "namespace", "crd-test")
    kubectl("-n", "crd-test", "create", "-f", "-", input=widget("good", 3))
    assert kubectl("-n", "crd-test", "get", "widget", "good", "-o", "jsonpath={.spec.size}").stdout == "3"

    too_big = kubectl("-n", "crd-test", "create", "-f", "-", input=widget("too-big", 11), check=False)
    assert too_big.returncode != 0
    assert "spec.size" in too_big.stderr and "should be less than or equal to 10" in too_big.stderr
    wrong_type = kubectl("-n", "crd-test", "create", "-f", "-", input=widget("wrong", "big"), check=False)
    assert wrong_type.returncode != 0 and "spec.size" in wrong_type.stderr


def test_namespace_deletion_completes(kubectl) -> None:
    """Needs the controller manager's namespace controller and garbage collector to be really running."""
    kubectl("create", "namespace", "doomed")
    kubectl("-n", "doomed", "create", "configmap", "payload", "--from-literal=a=b")
    kubectl("delete", "namespace", "doomed", "--wait=true", "--timeout=60s")
    gone = kubectl("get", "namespace", "doomed", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_anonymous_requests_are_refused(control_plane) -> None:
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(control_plane.ca_file))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{control_plane.server}/api", context=context, timeout=5)
    assert refused.value.code == 401


def _processes_mentioning(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_cli_cluster_up_then_down_leaves_no_process(tmp_path, control_plane) -> None:
    """`k3s-daas cluster up|down` as a user runs it, with a state directory of its own."""
    state_dir = tmp_path / "x"
    cli = [sys.executable, "-m", "k3s_daas.cli", "cluster"]
    up = subprocess.run([*cli, "up", "--state-dir", str(state_dir)], capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    kubeconfig = state_dir / "admin.kubeconfig"
    assert f"export KUBECONFIG={kubeconfig}" in up.stdout
    namespaces = subprocess.run(
        [str(control_plane.kubectl), "--kubeconfig", str(kubeconfig), "get", "ns", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "namespace/kube-system" in namespaces.stdout, namespaces.stderr
    assert len(_processes_mentioning(str(state_dir))) == 3

    again = subprocess.run([*cli, "up", "--state-dir", str(state_dir)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already running" in again.stderr
    assert len(_processes_mentioning(str(state_dir))) == 3

    down = subprocess.run([*cli, "down", "--state-dir", str(state_dir)], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert "kube-apiserver" in down.stderr
    deadline = time.monotonic() + 5
    while _processes_mentioning(str(state_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_mentioning(str(state_dir)) == []
    assert cluster.load_running(state_dir) is None
    second_down = subprocess.run([*cli, "down", "--state-dir", str(state_dir)], capture_output=True, text=True)
    assert second_down.returncode == 0 and "nothing running" in second_down.stderr


def test_a_failed_start_leaves_no_process(tmp_path, settings) -> None:
    """An API server that cannot start (bad flag) is reported with its log, and etcd is stopped too."""
    state_dir = tmp_path / "broken"
    with pytest.raises(StartFailed, match="kube-apiserver exit 1 during start-up"):
        cluster.up(
            settings.control_plane,
            state_dir,
            lambda _message: None,
            tie_to_parent=True,
            extra_apiserver_args=("--no-such-flag=1",),
        )
    assert _processes_mentioning(str(state_dir.resolve())) == []


def test_an_etcd_that_dies_at_start_is_retried_with_fresh_ports(tmp_path, settings) -> None:
    """etcd has been seen to exit at once on a loaded machine; the start is retried, not failed."""
    real_etcd = shutil.which(settings.control_plane.etcd_binary)
    flaky = tmp_path / "flaky-etcd"
    flaky.write_text(
        f'#!/bin/sh\n[ -e "{tmp_path}/tried" ] || {{ touch "{tmp_path}/tried"; exit 1; }}\nexec {real_etcd} "$@"\n'
    )
    flaky.chmod(0o755)
    state_dir = tmp_path / "retried"
    messages: list[str] = []
    running = cluster.up(
        dataclasses.replace(settings.control_plane, etcd_binary=str(flaky)),
        state_dir,
        messages.append,
        tie_to_parent=True,
    )
    try:
        assert any("retrying with new ports" in m and "etcd exit 1" in m for m in messages), messages
        assert cluster.load_running(state_dir.resolve()) is not None
        assert running.server.startswith("https://127.0.0.1:")
    finally:
        cluster.down(state_dir)
