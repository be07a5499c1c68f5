"""GET /attestation over real HTTPS: the webhook's enclave key, bound in a document with the nonce.

On this machine there is no NSM, so the documents are development ones: every answer and the
metrics say so, the project's verifier accepts them only when development mode is allowed, and
`k3s-daas attest verify` checks a running webhook end to end.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from webhook_testing import RunningWebhook, TLSFiles, call, webhook_settings

from k3s_daas.cli import main
from k3s_daas.enclave import devmode
from k3s_daas.enclave.attestation import Policy, verify_attestation
from k3s_daas.enclave.errors import DevModeNotAllowed, NonceMismatch
from k3s_daas.enclave.nsm import NsmError
from k3s_daas.enclave.remote import verify_response
from k3s_daas.enclave.response import AttestationResponse
from k3s_daas.settings import Settings
from k3s_daas_webhook.server import WebhookConfigError, build

DEV_PCRS = {index: devmode.DEV_PCRS[index] for index in (0, 1, 2)}
DEV_PCR_ARGS = [f"--pcr={index}={value.hex()}" for index, value in DEV_PCRS.items()]
Start = Callable[..., RunningWebhook]


def attest(webhook: RunningWebhook, query: str = "") -> tuple[int, dict[str, str], object]:
    return call(webhook.port, webhook.ca, "GET", f"/attestation{query}")


def public_key(webhook: RunningWebhook) -> bytes:
    enclave = webhook.webhook.state.enclave
    assert enclave is not None
    return enclave.public_key


def test_a_development_document_binds_the_server_key_and_verifies_only_when_allowed(start_webhook: Start) -> None:
    webhook = start_webhook(attestation_mode="dev")
    nonce = os.urandom(32)
    status, headers, body = attest(webhook, f"?nonce={nonce.hex()}")
    assert status == 200, body
    assert headers["cache-control"] == "no-store"
    assert isinstance(body, dict)
    assert {key: body[key] for key in ("format", "mode", "dev_mode")} == {
        "format": "k3s-daas/attestation@1",
        "mode": "development",
        "dev_mode": True,
    }
    assert body["public_key"] == public_key(webhook).hex()

    document = bytes.fromhex(body["attestation"])
    verified = verify_attestation(document, Policy(expected_pcrs=DEV_PCRS, nonce=nonce, allow_dev=True))
    assert verified.dev_mode and verified.document.module_id == devmode.DEV_MODULE_ID
    assert verified.public_key == public_key(webhook)  # the key inside the signed document is the server's
    with pytest.raises(DevModeNotAllowed):
        verify_attestation(document, Policy(expected_pcrs=DEV_PCRS, nonce=nonce))
    # The whole answer, as a remote verifier checks it (its statements against its document).
    answer = AttestationResponse.from_json_bytes(json.dumps(body).encode())
    assert verify_response(answer, Policy(nonce=nonce, allow_dev=True)).public_key == public_key(webhook)


def test_each_document_carries_the_nonce_it_was_asked_for(start_webhook: Start) -> None:
    webhook = start_webhook(attestation_mode="dev")
    first, second = os.urandom(16), os.urandom(64)
    documents = {}
    for nonce in (first, second):
        status, _, body = attest(webhook, f"?nonce={nonce.hex()}")
        assert status == 200 and isinstance(body, dict)
        documents[nonce] = bytes.fromhex(body["attestation"])
        assert verify_attestation(documents[nonce], Policy(nonce=nonce, allow_dev=True)).document.nonce == nonce
    with pytest.raises(NonceMismatch):  # an answer made for another verifier's challenge
        verify_attestation(documents[first], Policy(nonce=second, allow_dev=True))
    status, _, body = attest(webhook)
    assert status == 200 and isinstance(body, dict)
    assert verify_attestation(bytes.fromhex(body["attestation"]), Policy(allow_dev=True)).document.nonce is None

    for query in ("?nonce=zz", "?nonce=", f"?nonce={'00' * 65}", "?nonce=01&nonce=02"):
        status, _, body = attest(webhook, query)
        assert status == 400, query
        assert isinstance(body, dict) and body["error"].startswith("bad nonce"), query


def test_metrics_say_development_mode(start_webhook: Start) -> None:
    webhook = start_webhook(attestation_mode="dev")
    attest(webhook, "?nonce=01")
    attest(webhook, "?nonce=zz")
    status, _, text = call(webhook.port, webhook.ca, "GET", "/metrics")
    assert status == 200 and isinstance(text, bytes)
    metrics = text.decode()
    assert "k3s_daas_enclave_dev_mode 1.0" in metrics
    assert 'k3s_daas_enclave_info{mode="development"} 1.0' in metrics
    assert 'k3s_daas_attestation_requests_total{result="served"} 1.0' in metrics
    assert 'k3s_daas_attestation_requests_total{result="bad_request"} 1.0' in metrics


def test_every_server_start_makes_its_own_key(start_webhook: Start) -> None:
    first, second = start_webhook(attestation_mode="dev"), start_webhook(attestation_mode="dev")
    assert public_key(first) != public_key(second)
    enclave = first.webhook.state.enclave
    assert enclave is not None
    with pytest.raises(TypeError, match="stays in the memory"):  # no way out of the process
        pickle.dumps(enclave)


def test_attest_verify_against_the_running_webhook(start_webhook: Start, capsys: pytest.CaptureFixture[str]) -> None:
    webhook = start_webhook(attestation_mode="dev")
    base = ["attest", "verify", "--url", webhook.url, "--cacert", str(webhook.ca)]
    assert main([*base, "--allow-dev", *DEV_PCR_ARGS]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WARNING: DEVELOPMENT MODE")
    assert f"public key  {public_key(webhook).hex()}" in out
    assert "on-chain registration: skipped: this is a development attestation" in out

    assert main([*base, "--allow-dev", *DEV_PCR_ARGS, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] and report["dev_mode"] and report["onchain"] == "skipped_dev_mode"
    assert report["public_key"] == public_key(webhook).hex()

    wrong_pcr = f"--pcr=2={'ab' * 48}"
    assert main([*base, "--allow-dev", *DEV_PCR_ARGS[:2], wrong_pcr]) == 1
    assert "PCR2 is" in capsys.readouterr().err
    assert main([*base, *DEV_PCR_ARGS]) == 1  # development mode not allowed
    assert "development attestation" in capsys.readouterr().err


def test_auto_mode_uses_the_nsm_when_the_device_exists(start_webhook: Start, tmp_path: Path) -> None:
    without = start_webhook(attestation_mode="auto", nsm_device=str(tmp_path / "no-nsm"))
    enclave = without.webhook.state.enclave
    assert enclave is not None and enclave.dev_mode and enclave.mode == "development"

    # A regular file stands in for /dev/nsm: the device exists, so auto picks the NSM, whose ioctl
    # then fails. The answer is a clear 503, never a development document in disguise.
    device = tmp_path / "nsm"
    device.write_bytes(b"")
    nitro = start_webhook(attestation_mode="auto", nsm_device=str(device))
    enclave = nitro.webhook.state.enclave
    assert enclave is not None and not enclave.dev_mode and enclave.mode == "nitro"
    status, headers, body = attest(nitro, "?nonce=01")
    assert status == 503 and headers["retry-after"] == "1"
    assert isinstance(body, dict) and "NSM request failed" in body["error"]
    _, _, text = call(nitro.port, nitro.ca, "GET", "/metrics")
    assert isinstance(text, bytes)
    assert "k3s_daas_enclave_dev_mode 0.0" in text.decode()
    assert 'k3s_daas_enclave_info{mode="nitro"} 1.0' in text.decode()


def test_nitro_mode_refuses_to_start_outside_an_enclave(tls: TLSFiles, tmp_path: Path) -> None:
    with pytest.raises(NsmError, match="no NSM device"):
        build(webhook_settings(tls, attestation_mode="nitro", nsm_device=str(tmp_path / "no-nsm")))
    with pytest.raises(WebhookConfigError, match="attestation mode 'tee'"):
        build(webhook_settings(tls, attestation_mode="tee"))


def test_attestation_settings_from_the_environment() -> None:
    default = Settings.from_env({}).webhook
    assert (default.attestation_mode, default.nsm_device) == ("auto", "/dev/nsm")
    environ = {"K3S_DAAS_WEBHOOK_ATTESTATION_MODE": "dev", "K3S_DAAS_WEBHOOK_NSM_DEVICE": "/tmp/nsm"}
    configured = Settings.from_env(environ).webhook
    assert (configured.attestation_mode, configured.nsm_device) == ("dev", "/tmp/nsm")
