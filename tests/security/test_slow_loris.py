"""Slow-loris: a client that trickles its request head, or its body, is disconnected by the webhook.

aiohttp's keep-alive timer runs from the moment a connection opens until a whole request head has
arrived, and again after each answer; the webhook sets it from ``WebhookSettings.idle_timeout_s``
(aiohttp's own default is 3,630 s). aiohttp does not bound the body; the webhook drops a request
whose body is still arriving ``body_timeout_s`` after its head (app.request_context). Here both
are 1 s, so the tests wait seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time

from webhook_testing import call, client_context

from k3s_daas.settings import Settings, WebhookSettings

IDLE_S = 1.0
TRICKLE_FOR_S = 20.0  # far past IDLE_S: a server that never drops the client keeps it this long


def tls_connection(webhook) -> ssl.SSLSocket:
    plain = socket.create_connection(("127.0.0.1", webhook.port), timeout=5)
    return client_context(webhook.ca).wrap_socket(plain, server_hostname="127.0.0.1")


def trickle(connection: ssl.SSLSocket, data: bytes, interval: float, budget: float) -> float | None:
    """Send ``data`` a byte at a time; the seconds after which the server hung up (None: never)."""
    started = time.monotonic()
    connection.settimeout(interval)
    for byte in data:
        try:
            connection.sendall(bytes([byte]))
            if connection.recv(1) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass  # nothing from the server yet: keep trickling
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            return time.monotonic() - started
        if time.monotonic() - started > budget:
            return None
    return None


def test_a_client_trickling_its_headers_is_dropped(start_webhook, active) -> None:
    webhook = start_webhook(holder=active, idle_timeout_s=IDLE_S)
    head = b"POST /authenticate HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"z" * 400
    with tls_connection(webhook) as connection:
        dropped_after = trickle(connection, head, 0.2, TRICKLE_FOR_S)
    assert dropped_after is not None, f"still connected after trickling for {TRICKLE_FOR_S} s"
    assert call(webhook.port, webhook.ca, "GET", "/healthz")[0] == 200


def test_a_silent_client_is_dropped(start_webhook, active) -> None:
    webhook = start_webhook(holder=active, idle_timeout_s=IDLE_S)
    with tls_connection(webhook) as connection:
        connection.settimeout(TRICKLE_FOR_S)
        with contextlib.suppress(ConnectionResetError, ssl.SSLError):  # a reset is a close too
            assert connection.recv(1) == b""  # the server closed the connection


def test_keep_alive_clients_that_send_requests_keep_their_connection(start_webhook, active) -> None:
    webhook = start_webhook(holder=active, idle_timeout_s=IDLE_S)
    with tls_connection(webhook) as connection:
        for _ in range(3):
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while not answer.endswith(b"ok"):
                chunk = connection.recv(1024)
                assert chunk, "the server closed a connection that was answering promptly"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")


def test_the_bound_is_a_setting_with_a_default_under_two_minutes() -> None:
    assert WebhookSettings().idle_timeout_s <= 120 and WebhookSettings().body_timeout_s <= 30
    environment = {"K3S_DAAS_WEBHOOK_IDLE_TIMEOUT_S": "7.5", "K3S_DAAS_WEBHOOK_BODY_TIMEOUT_S": "2"}
    overridden = Settings.from_env(environment).webhook
    assert (overridden.idle_timeout_s, overridden.body_timeout_s) == (7.5, 2.0)


def test_a_client_trickling_its_body_is_dropped(start_webhook, active, caplog) -> None:
    caplog.set_level(logging.INFO)
    webhook = start_webhook(holder=active, body_timeout_s=IDLE_S)
    with tls_connection(webhook) as connection:
        connection.sendall(b"POST /authenticate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n")
        dropped_after = trickle(connection, b"{" + b" " * 498, 0.2, TRICKLE_FOR_S)
    assert dropped_after is not None, f"still connected after trickling a body for {TRICKLE_FOR_S} s"
    assert call(webhook.port, webhook.ca, "GET", "/healthz")[0] == 200
    assert "dropping a client whose POST /authenticate body is still arriving" in caplog.text
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text
