"""Graceful shutdown of `k3s-daas webhook serve`, over real HTTPS, watching a real API server.

On SIGTERM the webhook first answers /readyz 503 while still serving (the grace period), then closes
its listener, lets the requests in flight finish, stops its watches and verification workers, and
exits 0. Its JSON log lines carry the request id of the request they were written for."""

from __future__ import annotations

import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from webhook_testing import TLSFiles, call, make_tls, token_review

from k3s_daas.controlplane import cluster
from k3s_daas.controlplane.processes import free_loopback_port

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("k3s-daas"))
GRACE_S = 2.0
IN_FLIGHT = 3


@pytest.fixture(scope="module")
def crds(control_plane: cluster.RunningCluster, kubectl) -> None:
    kubectl("apply", "-f", str(REPO / "crds"))
    for crd in ("sealtokens.k3s-daas.io", "stakednodes.k3s-daas.io"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, tls: TLSFiles, log: Path) -> None:
        self.process, self.port, self.tls, self.log = process, port, tls, log

    def get(self, path: str) -> int:
        return call(self.port, self.tls.ca, "GET", path)[0]

    def log_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def server(control_plane: cluster.RunningCluster, crds: None, tmp_path: Path) -> Iterator[Server]:
    tls = make_tls(tmp_path)
    port = free_loopback_port()
    log = tmp_path / "webhook.log"
    argv = [
        CLI,
        "--log-format=json",
        "webhook",
        "serve",
        f"--port={port}",
        f"--cert-file={tls.cert}",
        f"--key-file={tls.key}",
        "--cluster-id=shutdown-test",
        f"--kubeconfig={control_plane.admin_kubeconfig}",
        "--node-guard-policy=",
        f"--shutdown-grace={GRACE_S}",
        "--shutdown-timeout=20",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, port, tls, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"webhook exited:\n{log.read_text()[-3000:]}"
            try:
                if server.get("/readyz") == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"webhook never ready:\n{log.read_text()[-3000:]}"
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _start_request(server: Server, request_id: str) -> tuple[ssl.SSLSocket, bytes]:
    """A TokenReview POST whose body is only half sent: a request in flight, held open by the client."""
    body = json.dumps(token_review("k3s-daas-v1.not-a-real-token")).encode()
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    tls = ssl.create_default_context(cafile=str(server.tls.ca)).wrap_socket(raw, server_hostname="127.0.0.1")
    head = (
        f"POST /authenticate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Request-Id: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    tls.sendall(head + body[: len(body) // 2])
    return tls, body[len(body) // 2 :]


def _finish_request(tls: ssl.SSLSocket, rest: bytes) -> tuple[int, dict[str, str], bytes]:
    tls.sendall(rest)
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _content_length(answer):
        chunk = tls.recv(65536)
        if not chunk:
            break
        answer += chunk
    tls.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, payload


def _content_length(answer: bytes) -> int:
    head = answer.split(b"\r\n\r\n", 1)[0].decode(errors="replace").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 1 << 30


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_drains_then_finishes_requests_in_flight_and_exits_0(server: Server) -> None:
    in_flight = [_start_request(server, f"in-flight-{n}") for n in range(IN_FLIGHT)]
    time.sleep(0.3)  # the server has read their headers: their handlers are running, waiting for the body

    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()

    # First /readyz flips to 503, while new requests are still answered.
    while server.get("/readyz") != 503:
        assert time.monotonic() - signalled < GRACE_S, "/readyz never reported not-ready during the grace period"
        time.sleep(0.05)
    status, headers, answer = call(server.port, server.tls.ca, "POST", "/authenticate", token_review("x.y.z"))
    assert status == 200 and answer["status"]["authenticated"] is False
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]+", headers["x-request-id"])  # none given: a generated one is echoed

    # After the grace period the listener is closed: no new connections.
    while not _refused(server.port):
        assert time.monotonic() - signalled < GRACE_S + 5, "the listener stayed open after the grace period"
        time.sleep(0.05)
    assert server.process.poll() is None, "exited before its requests in flight were answered"

    # The requests that were in flight at SIGTERM complete normally.
    for n, (tls, rest) in enumerate(in_flight):
        status, headers, payload = _finish_request(tls, rest)
        assert status == 200, payload
        assert json.loads(payload)["status"]["authenticated"] is False
        assert headers["x-request-id"] == f"in-flight-{n}"

    assert server.process.wait(30) == 0
    lines = server.log_lines()
    messages = [str(line["message"]) for line in lines]
    assert any(m.startswith("shutting down: /readyz answers 503") for m in messages)
    assert any(m.startswith("closing the listener") for m in messages)
    assert messages[-1] == "stopped"
    # Each denial was logged with the id of its request; the token itself never appears in the log.
    denied = {line.get("request_id") for line in lines if str(line["message"]).startswith("TokenReview denied")}
    assert {f"in-flight-{n}" for n in range(IN_FLIGHT)} <= denied
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert "not-a-real-token" not in server.log.read_text()
