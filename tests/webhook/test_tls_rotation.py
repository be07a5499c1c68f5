"""Zero-downtime certificate rotation: clients hammer the server over one keep-alive connection and
over fresh connections while the certificate and key files are replaced again and again, in place and
non-atomically (the certificate first, the key a moment later, so the pair is briefly mismatched),
and by atomic renames. No request fails, and new connections get the new certificate."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import threading
import time
from pathlib import Path

from cryptography import x509
from webhook_testing import TLSFiles, make_tls

from k3s_daas_webhook.index import IndexHolder

ROTATIONS = 6
ROTATION_TIMEOUT_S = 10.0


def _serial_of(pem: Path) -> int:
    return x509.load_pem_x509_certificate(pem.read_bytes()).serial_number


def _write_in_place(target: Path, source: Path) -> None:
    """Truncate and rewrite the same inode, as `cp` does: a reader may see it empty or half-written."""
    data = source.read_bytes()
    with target.open("r+b") as handle:
        handle.truncate(0)
        handle.flush()
        os.fsync(handle.fileno())
        handle.write(data[: len(data) // 2])
        handle.flush()
        time.sleep(0.003)
        handle.write(data[len(data) // 2 :])


def _write_atomically(target: Path, source: Path) -> None:
    scratch = target.with_suffix(".tmp")
    scratch.write_bytes(source.read_bytes())
    scratch.replace(target)


class Hammer:
    """Two client threads until stopped: one keep-alive connection, and a new connection per request."""

    def __init__(self, port: int, cafile: Path) -> None:
        self.port = port
        self.context = ssl.create_default_context(cafile=str(cafile))
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.keepalive_requests = 0
        self.fresh_requests = 0
        self.last_fresh_serial: int | None = None
        self._threads = [threading.Thread(target=self._keepalive), threading.Thread(target=self._fresh)]

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(30)

    def _keepalive(self) -> None:
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=10)
        try:
            sock_before = None
            while not self.stop.is_set():
                try:
                    connection.request("GET", "/healthz")
                    response = connection.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as error:
                    self.failures.append(f"keep-alive: {error!r}")
                    return
                if response.status != 200 or body != b"ok":
                    self.failures.append(f"keep-alive: {response.status} {body!r}")
                if sock_before is not None and connection.sock is not sock_before:
                    self.failures.append("keep-alive: the connection was reopened")
                sock_before = connection.sock
                self.keepalive_requests += 1
        finally:
            connection.close()

    def _fresh(self) -> None:
        while not self.stop.is_set():
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw,
                    self.context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
                ):
                    der = tls.getpeercert(binary_form=True)
                    tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    answer = b""
                    while chunk := tls.recv(4096):
                        answer += chunk
            except (OSError, ssl.SSLError) as error:
                self.failures.append(f"new connection: {error!r}")
                continue
            if not answer.startswith(b"HTTP/1.1 200"):
                self.failures.append(f"new connection: {answer[:60]!r}")
            assert der is not None
            self.last_fresh_serial = x509.load_der_x509_certificate(der).serial_number
            self.fresh_requests += 1


def test_rotation_under_load_fails_no_request(start_webhook, tmp_path: Path) -> None:
    pairs: list[TLSFiles] = [make_tls(tmp_path, "blue"), make_tls(tmp_path, "green")]
    bundle = tmp_path / "both-cas.pem"
    bundle.write_bytes(pairs[0].ca.read_bytes() + pairs[1].ca.read_bytes())
    live_cert, live_key = tmp_path / "tls.crt", tmp_path / "tls.key"
    live_cert.write_bytes(pairs[0].cert.read_bytes())
    live_key.write_bytes(pairs[0].key.read_bytes())
    webhook = start_webhook(
        holder=IndexHolder(synced=True),
        cert_file=str(live_cert),
        key_file=str(live_key),
        cert_reload_interval_s=0.01,  # poll far more often than any deployment: more chances to race
    )

    with Hammer(webhook.port, bundle) as hammer:
        for rotation in range(ROTATIONS):
            new = pairs[(rotation + 1) % 2]
            keepalive_before, fresh_before = hammer.keepalive_requests, hammer.fresh_requests
            if rotation % 3 == 2:
                _write_atomically(live_key, new.key)  # key first: briefly the old certificate with the new key
                time.sleep(0.05)
                _write_atomically(live_cert, new.cert)
            else:
                _write_in_place(live_cert, new.cert)  # certificate first: briefly the new one with the old key
                time.sleep(0.05)
                _write_in_place(live_key, new.key)
            deadline = time.monotonic() + ROTATION_TIMEOUT_S
            while not (
                hammer.last_fresh_serial == _serial_of(new.cert)
                and hammer.fresh_requests > fresh_before + 3
                and hammer.keepalive_requests > keepalive_before + 3
            ):
                assert not hammer.failures, hammer.failures[:5]
                assert time.monotonic() < deadline, f"rotation {rotation}: new connections never got the new cert"
                time.sleep(0.01)

    assert hammer.failures == []
    assert hammer.keepalive_requests > ROTATIONS * 3
    assert hammer.fresh_requests > ROTATIONS * 3
