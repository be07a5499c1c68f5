"""Oversized headers and bodies against the real webhook over HTTPS: refused with a 4xx, without
reading what is too large, and the server stays healthy.

Existing coverage: tests/webhook/test_authenticate.py::test_oversized_body_is_refused (64 KiB+ with a
Content-Length) and tests/webhook/test_validate.py::test_oversized_body_is_refused_before_it_is_read.
Added here: headers past aiohttp's limits, and bodies past each route's limit without a Content-Length
(chunked), where only counting the bytes as they arrive can stop them.
"""

from __future__ import annotations

import socket
import ssl

import pytest
from webhook_testing import call, client_context

from k3s_daas_webhook.app import ADMISSION_MAX_BODY_BYTES, MAX_BODY_BYTES


def raw_exchange(webhook, head: bytes, chunks: list[bytes] = (), timeout: float = 30) -> bytes:
    """Send ``head`` then ``chunks`` over TLS; return the status line (or b"" if the server hung up)."""
    plain = socket.create_connection(("127.0.0.1", webhook.port), timeout=timeout)
    with client_context(webhook.ca).wrap_socket(plain, server_hostname="127.0.0.1") as tls:
        try:
            tls.sendall(head)
            for chunk in chunks:
                tls.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # refused before everything was sent: read what the server said
        try:
            return tls.recv(200).split(b"\r\n", 1)[0]
        except (ConnectionResetError, ssl.SSLError):
            return b""


def healthy(webhook) -> bool:
    return call(webhook.port, webhook.ca, "GET", "/healthz")[0] == 200


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("long header value", b"X-Pad: " + b"a" * 70_000 + b"\r\n"),
        ("long request line", b""),
        ("many headers", b"".join(b"X-H%d: v\r\n" % i for i in range(5_000))),
    ],
)
def test_oversized_request_heads_are_refused(start_webhook, active, name, header) -> None:
    webhook = start_webhook(holder=active)
    target = b"/healthz?" + b"q" * 70_000 if name == "long request line" else b"/healthz"
    head = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\n"
    status = raw_exchange(webhook, head)
    assert status == b"" or status.split(b" ")[1].startswith((b"400", b"413", b"431")), status
    assert healthy(webhook)


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/authenticate", MAX_BODY_BYTES), ("/validate", ADMISSION_MAX_BODY_BYTES), ("/join", MAX_BODY_BYTES)],
)
def test_chunked_bodies_past_the_route_limit_are_refused(start_webhook, active, path, limit) -> None:
    webhook = start_webhook(holder=active)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"x" * 65_536
    count = limit // len(chunk) + 2
    chunks = [b"%x\r\n" % len(chunk) + chunk + b"\r\n"] * count + [b"0\r\n\r\n"]
    status = raw_exchange(webhook, head, chunks, timeout=60)
    expected = b"404" if path == "/join" else b"413"  # no Kubernetes access here: /join is not served at all
    assert status.split(b" ")[1] == expected, status
    assert healthy(webhook)


def test_join_body_past_its_limit_is_refused_when_join_is_served(join_webhook) -> None:
    webhook, _api, _ = join_webhook
    status, _, _ = call(webhook.port, webhook.ca, "POST", "/join", raw=b"x" * (MAX_BODY_BYTES + 1))
    assert status == 413
    assert healthy(webhook)
