"""Certificate rotation without restart: new handshakes get the new certificate, a broken pair is
ignored (the old one keeps serving), and the server never stops answering."""

from __future__ import annotations

import shutil
import socket
import ssl
import time

from cryptography import x509
from webhook_testing import call, make_tls

from k3s_daas_webhook.index import IndexHolder


def _served_serial(port: int) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _serial(path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def _wait_for(check, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_certificate_is_reloaded_when_the_files_change(start_webhook, tmp_path):
    first = make_tls(tmp_path, "first")
    second = make_tls(tmp_path, "second")
    live_cert, live_key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(first.cert, live_cert)
    shutil.copy(first.key, live_key)
    webhook = start_webhook(holder=IndexHolder(synced=True), cert_file=str(live_cert), key_file=str(live_key))
    assert _served_serial(webhook.port) == _serial(first.cert)

    # A half-finished rotation (new certificate, old key) must not take the server down.
    shutil.copy(second.cert, live_cert)
    time.sleep(0.4)
    assert _served_serial(webhook.port) == _serial(first.cert)

    shutil.copy(second.key, live_key)
    assert _wait_for(lambda: _served_serial(webhook.port) == _serial(second.cert))
    assert call(webhook.port, second.ca, "GET", "/healthz")[0] == 200
    metrics = call(webhook.port, second.ca, "GET", "/metrics")[2].decode()
    assert 'k3s_daas_tls_certificate_reloads_total{result="reloaded"} 1.0' in metrics
