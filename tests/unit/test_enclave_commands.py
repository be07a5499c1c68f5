"""`k3s-daas attest verify` against a real HTTP server on loopback serving /attestation."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from k3s_daas.cli import main
from k3s_daas.enclave import devmode
from k3s_daas.enclave.commands import pcr_argument
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.enclave.provider import DevProvider, attestation_response
from k3s_daas.enclave.remote import attestation_url
from k3s_daas.enclave.response import parse_nonce

DEV_PCR_ARGS = [f"--pcr={i}={devmode.DEV_PCRS[i].hex()}" for i in (0, 1, 2)]
Answer = Callable[[bytes | None], tuple[int, bytes]]


def serve(answer: Answer) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/attestation":
                self.send_error(404)
                return
            nonce = urllib.parse.parse_qs(url.query).get("nonce", [None])[0]
            status, body = answer(parse_nonce(nonce) if nonce else None)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


KEY = EnclaveKey.generate()
PROVIDER = DevProvider()


def honest(nonce: bytes | None) -> tuple[int, bytes]:
    return 200, json.dumps(attestation_response(PROVIDER, KEY, nonce).to_json()).encode()


@pytest.fixture
def dev_webhook() -> Iterator[str]:
    yield from serve(honest)


@pytest.fixture
def replaying_webhook() -> Iterator[str]:
    # Made now, not at import: a fresh document whose nonce is another verifier's (the suite can run
    # longer than the freshness limit between collection and this test).
    replayed = json.dumps(attestation_response(PROVIDER, KEY, b"an old nonce").to_json()).encode()
    yield from serve(lambda nonce: (200, replayed))


@pytest.fixture
def broken_webhook() -> Iterator[str]:
    yield from serve(lambda nonce: (500, b"{}"))


def test_development_webhook_verifies_with_allow_dev(dev_webhook: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attest", "verify", "--url", dev_webhook, *DEV_PCR_ARGS, "--allow-dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WARNING: DEVELOPMENT MODE")
    assert f"public key  {KEY.public_key.hex()}" in out
    assert "nonce       matches the one sent" in out
    assert "PCR0" in out and "(expected)" in out and "(not checked)" in out
    # A development document can never be registered on Sui: the check is skipped, and said so.
    assert "on-chain registration: skipped: this is a development attestation" in out


def test_development_webhook_is_refused_without_allow_dev(dev_webhook: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attest", "verify", "--url", dev_webhook, *DEV_PCR_ARGS]) == 1
    assert "development attestation" in capsys.readouterr().err


def test_json_output(dev_webhook: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["attest", "verify", "--url", f"{dev_webhook}/attestation", *DEV_PCR_ARGS, "--allow-dev", "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] is True and report["dev_mode"] is True
    assert report["public_key"] == KEY.public_key.hex()
    assert report["pcrs_checked"] == [0, 1, 2]
    assert report["onchain"] == "skipped_dev_mode"
    assert main(["attest", "verify", "--url", dev_webhook, *DEV_PCR_ARGS, "--json"]) == 1
    failure = json.loads(capsys.readouterr().out)
    assert failure == {"verified": False, "reason": "dev_mode_not_allowed", "error": failure["error"]}


def test_pcr_mismatch_fails(dev_webhook: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attest", "verify", "--url", dev_webhook, "--pcr", "0=" + "ab" * 48, "--allow-dev"]) == 1
    assert "PCR0 is" in capsys.readouterr().err


def test_replayed_document_fails_the_nonce(replaying_webhook: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attest", "verify", "--url", replaying_webhook, *DEV_PCR_ARGS, "--allow-dev"]) == 1
    assert "nonce" in capsys.readouterr().err


def test_http_errors_and_unreachable_servers(broken_webhook: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attest", "verify", "--url", broken_webhook, *DEV_PCR_ARGS, "--allow-dev"]) == 1
    assert "HTTP 500" in capsys.readouterr().err
    assert main(["attest", "verify", "--url", "http://127.0.0.1:9", *DEV_PCR_ARGS, "--timeout", "2", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "fetch_failed"


def test_pcrs_are_required_unless_waived(dev_webhook: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attest", "verify", "--url", dev_webhook, "--allow-dev"]) == 2
    assert "--pcr" in capsys.readouterr().err
    assert main(["attest", "verify", "--url", dev_webhook, "--allow-dev", "--no-pcr-check"]) == 0


def test_pcr_argument_parsing() -> None:
    import argparse

    assert pcr_argument("2=0x" + "ab" * 48) == (2, b"\xab" * 48)
    for bad in ("ab", "x=00", "32=" + "00" * 48, "0=zz", "0=" + "00" * 47):
        with pytest.raises(argparse.ArgumentTypeError):
            pcr_argument(bad)


def test_attestation_url() -> None:
    assert attestation_url("https://h:8443", b"\x01") == "https://h:8443/attestation?nonce=01"
    assert attestation_url("https://h/base/", None) == "https://h/base/attestation"
    assert attestation_url("http://h/attestation", None) == "http://h/attestation"
    from k3s_daas.enclave.remote import FetchError

    with pytest.raises(FetchError):
        attestation_url("file:///etc/passwd", None)
