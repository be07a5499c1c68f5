"""`k3s-daas attest verify`'s on-chain check, against a localnet holding a real registration.

The recorded Nautilus document (a real AWS Nitro attestation binding an Ed25519 key) is
registered on a localnet whose clock is set to the document's time, then the check reads the
chain through k3s_daas.chain: registered and current; PCRs the chain does not expect; another
key; an outdated registration after update_pcrs; an unconfigured chain; an unreachable chain.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import vector_replay as vr
from localnet_testing import Localnet, ManualClock

from k3s_daas.cli import main
from k3s_daas.enclave import commands
from k3s_daas.enclave.attestation import Policy, VerifiedAttestation, verify_attestation
from k3s_daas.enclave.errors import ConfigPcrMismatch, NotConfigured, OutdatedRegistration, RegistrationError
from k3s_daas.enclave.registration import read_registration
from k3s_daas.enclave.response import AttestationResponse
from k3s_daas.sui.crypto import Keypair

VECTOR = next(v for v in vr.load_vectors(vr.ENCLAVE_VECTOR_DIR) if v["name"] == "enclave_register_and_record")
WEATHER = bytes.fromhex(VECTOR["documents"]["nautilus_weather"])
STEPS = {step["step"]: step for step in VECTOR["steps"]}
PCRS = {index: bytes.fromhex(STEPS[6]["args"][f"pcr{index}"]) for index in range(3)}
REGISTER_AT_MS = STEPS[9]["time_ms"]
PCR_ARGS = [f"--pcr={index}={value.hex()}" for index, value in PCRS.items()]
VERIFIED = verify_attestation(WEATHER, Policy(expected_pcrs=PCRS, max_age_ms=None), now_ms=REGISTER_AT_MS)
KEY = VERIFIED.public_key or b""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def update_pcrs(net: Localnet, keys: dict[str, Keypair], pcrs: dict[int, bytes] = PCRS) -> None:
    writer = net.writer()
    arguments = {"cap": writer.admin_cap(keys["admin"].address)} | {f"pcr{i}": b64(v) for i, v in pcrs.items()}
    writer.call(keys["admin"], "enclave", "update_pcrs", arguments)


def register(net: Localnet, keys: dict[str, Keypair]) -> str:
    report = net.writer().call(keys["alice"], "enclave", "register_enclave", {"document": b64(WEATHER)})
    return str(report["events"][0]["parsedJson"]["enclave_id"])


@pytest.fixture
def registered(start_localnet: Any, keys: dict[str, Keypair]) -> tuple[Localnet, str]:
    net = start_localnet(admin=keys["admin"], clock=ManualClock(REGISTER_AT_MS))
    update_pcrs(net, keys)
    return net, register(net, keys)


async def test_a_registered_key_under_the_current_configuration(
    registered: tuple[Localnet, str], keys: dict[str, Keypair]
) -> None:
    net, enclave_id = registered
    found = await read_registration(net.chain_settings(), KEY, PCRS)
    assert found.enclave.object_id == enclave_id and found.enclave.public_key == KEY
    assert found.config.version == 1 and found.config.object_id == net.info.deployment.enclave_config_id
    assert found.enclave.owner == keys["alice"].address
    assert enclave_id in found.describe()

    with pytest.raises(ConfigPcrMismatch, match="PCR2 is"):
        await read_registration(net.chain_settings(), KEY, {**PCRS, 2: b"\xab" * 48})
    with pytest.raises(RegistrationError, match="no Enclave on chain holds this key"):
        await read_registration(net.chain_settings(), b"\x01" * 32, PCRS)

    update_pcrs(net, keys)  # the same image again, but a new configuration version
    with pytest.raises(OutdatedRegistration, match="registered under configuration version 1, but the current"):
        await read_registration(net.chain_settings(), KEY, PCRS)
    register(net, keys)  # a fresh registration (same document, still within five minutes) is current again
    assert (await read_registration(net.chain_settings(), KEY, PCRS)).config.version == 2


async def test_an_unconfigured_chain(start_localnet: Any, keys: dict[str, Keypair]) -> None:
    net = start_localnet(admin=keys["admin"])
    with pytest.raises(NotConfigured, match="no PCRs yet"):
        await read_registration(net.chain_settings(), KEY, PCRS)


@pytest.fixture
def webhook_serving_the_recorded_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's fetch and document checks answer with the recorded document, verified at its
    own time (a recorded document cannot carry a fresh nonce): what is tested is the chain check."""

    def fetch(url: str, **_: Any) -> AttestationResponse:
        return AttestationResponse(document=WEATHER, dev_mode=False, public_key=KEY)

    def verify(response: AttestationResponse, policy: Policy, **_: Any) -> VerifiedAttestation:
        assert response.document == WEATHER and policy.nonce is not None  # the command sent a nonce
        return VERIFIED

    monkeypatch.setattr(commands, "fetch_attestation", fetch)
    monkeypatch.setattr(commands, "verify_response", verify)


@pytest.mark.usefixtures("webhook_serving_the_recorded_document")
def test_attest_verify_checks_the_registration(
    registered: tuple[Localnet, str],
    keys: dict[str, Keypair],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net, enclave_id = registered
    chain = ["--chain-url", net.graphql_url, "--package-id", net.package_id]
    base = ["attest", "verify", "--url", "https://enclave.invalid", *PCR_ARGS]
    assert main([*base, *chain]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out
    assert f"on-chain registration: verified: Enclave {enclave_id} holds this key" in out

    # The chain settings come from the environment by default; a localnet names its own package.
    monkeypatch.setenv("K3S_DAAS_CHAIN_URL", net.graphql_url)
    assert main([*base, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["onchain"] == "registered" and report["dev_mode"] is False
    assert report["registration"]["enclave_id"] == enclave_id
    assert report["registration"]["config_version"] == 1

    assert main([*base, "--no-chain-check"]) == 0
    assert "on-chain registration: not checked (--no-chain-check)" in capsys.readouterr().out

    update_pcrs(net, keys)
    assert main([*base, "--json"]) == 1
    failure = json.loads(capsys.readouterr().out)
    assert failure["verified"] is False and failure["reason"] == "registration_outdated"
    assert main([*base]) == 1
    assert "must register again" in capsys.readouterr().err

    assert main([*base, "--chain-url", "http://127.0.0.1:9/graphql", "--package-id", "0x1", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "chain_error"
