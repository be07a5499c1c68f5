"""Plain HTTP to the webhook's TLS port: refused at the TLS layer, never answered in HTTP, never a
hang, and the server stays healthy and keeps answering HTTPS afterwards.

Existing coverage: tests/webhook/test_authenticate.py::test_plain_http_is_not_served (one request
fails). Added: what the client sees, many attempts (with bodies), and the server's health after.
"""

from __future__ import annotations

import socket
import time

from webhook_testing import call, token_review

from k3s_daas.sealtoken import api_claims, sign

PLAIN = [
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /authenticate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /join HTTP/1.0\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000,
    b"\x00" * 64,
]


def plain_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` without TLS; everything the server sends back before it closes."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(data)
            while chunk := connection.recv(4096):
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    return received


def test_plain_http_is_refused_cleanly_and_the_server_stays_healthy(start_webhook, active, alice) -> None:
    webhook = start_webhook(holder=active)
    for _attempt in range(10):
        for data in PLAIN:
            received = plain_exchange(webhook.port, data)
            assert not received.startswith(b"HTTP/"), received[:100]  # never an HTTP answer in clear text
            assert b"ok" not in received and b"TokenReview" not in received
            if received:
                assert received[0] == 0x15, received[:20]  # a TLS alert record, then the close
    # (a server that never closed would have hit the socket timeout: TimeoutError, not a pass)
    assert call(webhook.port, webhook.ca, "GET", "/healthz")[0] == 200
    token = sign(alice, api_claims(alice.address, "test-cluster", int(time.time()), 300))
    status, _, body = call(webhook.port, webhook.ca, "POST", "/authenticate", token_review(token))
    assert status == 200 and body["status"]["authenticated"] is True
