"""`k3s-daas localnet ...` as a person runs it: a served chain in a subprocess, commands in others."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import vector_replay as vr
from localnet_testing import free_port

from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.onchain_requests.signing import response_message
from k3s_daas.sui.crypto import Keypair
from k3s_daas.sui.keystore import encode_suiprivkey, write_keystore


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    db: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "k3s_daas.cli", "localnet", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str) -> dict[str, Any]:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def fails(self, fragment: str, *args: str) -> str:
        """The command exits non-zero with one line naming the problem, and changes nothing."""
        before = vr.db_fingerprint(self.db)
        done = self.run(*args)
        assert done.returncode != 0, done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("k3s-daas: error:"), lines[0]
        assert fragment in lines[0], lines[0]
        assert vr.db_fingerprint(self.db) == before
        return lines[0]


def serve(db: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "k3s_daas.cli", "localnet", "serve", "--port", str(port), "--db", str(db), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"localnet serve exited: {process.stderr.read() if process.stderr else ''}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("localnet serve did not become ready")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
def served(tmp_path: Path, keys: dict[str, Keypair]) -> Iterator[Served]:
    db, port = tmp_path / "chain.sqlite3", free_port()
    process = serve(db, port, "--admin", keys["admin"].address, "--allow-clock-control")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url)
        env = {**os.environ, "K3S_DAAS_CHAIN_URL": f"{url}/graphql"}
        yield Served(process, url, db, env)
    finally:
        stop(process)


def created(report: dict[str, Any], suffix: str) -> str:
    return next(c["objectId"] for c in report["objectChanges"] if c["objectType"].endswith(suffix))


def test_entry_functions_from_the_command_line(served: Served, keys: dict[str, Keypair], tmp_path: Path) -> None:
    keystore = tmp_path / "sui.keystore"
    write_keystore(keystore, [keys["admin"], keys["alice"]])
    alice = ["--suiprivkey", encode_suiprivkey(keys["alice"])]
    alice_ks = ["--keystore", str(keystore), "--address", keys["alice"].address]
    admin = ["--keystore", str(keystore), "--address", keys["admin"].address]
    bob = ["--suiprivkey", encode_suiprivkey(keys["bob"])]

    info = served.ok("info")
    assert info["admin"] == keys["admin"].address

    staked = served.ok("stake", "--role", "user", "--amount-mist", "600000000", *alice)
    assert set(staked) >= {"digest", "objectChanges", "events"}
    assert {c["type"] for c in staked["objectChanges"]} == {"created", "mutated"}
    assert all({"type", "objectId", "objectType"} <= set(c) for c in staked["objectChanges"])
    (event,) = staked["events"]
    assert event["type"] == f"{info['packageId']}::staking::Staked"
    assert event["parsedJson"]["amount"] == "600000000"
    record = created(staked, "::staking::StakeRecord")

    issued = served.ok(
        "issue-token", "--stake-record", record, "--permission", "pods:get", "--permission", "pods:list",
        "--expires-in-ms", "3600000", *alice_ks,
    )  # fmt: skip
    assert issued["events"][0]["parsedJson"]["permissions"] == ["pods:get", "pods:list"]
    token = created(issued, "::k8s_gateway::SealToken")

    served.fails("EBelowMinimum", "stake", "--role", "node", "--amount-mist", "999999999", "--node-name", "n1", *alice)
    served.fails("ENodeNameRequired", "stake", "--role", "node", "--amount-mist", "1000000000", *alice)
    served.fails(
        "needs the package's AdminCap", "slash", "--stake-record", record, "--amount-mist", "1", "--reason", "x", *alice
    )
    served.fails("ENotAuthorized", "revoke-token", "--token", token, *bob)
    served.fails("EUnknownToken", "revoke-token", "--token", "0xdead", *alice)
    served.fails("does not exist", "request-unstake", "--stake-record", "0xdead", *alice)
    served.fails(
        "suiprivkey", "stake", "--role", "user", "--amount-mist", "600000000", "--suiprivkey", "suiprivkey1xyz"
    )
    served.fails("no Sui key", "stake", "--role", "user", "--amount-mist", "600000000")

    slashed = served.ok(
        "slash", "--stake-record", record, "--amount-mist", "100000000", "--reason", "misbehaved", *admin
    )
    assert slashed["events"][0]["parsedJson"]["remaining"] == "500000000"
    revoked = served.ok("revoke-token", "--token", token, *admin)  # the admin path: not the owner, holds the cap
    assert revoked["events"][0]["parsedJson"]["revoked_by"] == keys["admin"].address
    served.fails("EAlreadyRevoked", "revoke-token", "--token", token, *alice)

    served.ok("request-unstake", "--stake-record", record, *alice)
    served.fails("ECooldownNotElapsed", "withdraw", "--stake-record", record, *alice)
    served.ok("advance-clock", "--ms", "86400000")
    withdrawn = served.ok("withdraw", "--stake-record", record, *alice)
    assert withdrawn["events"][0]["parsedJson"]["amount"] == "500000000"
    assert {"deleted"} <= {c["type"] for c in withdrawn["objectChanges"]}

    request = served.ok("submit-request", "--method", "GET", "--path", "/api/v1/namespaces", *alice)
    assert request["events"][0]["parsedJson"]["request_id"] == "1"
    served.fails("EInvalidRequest", "submit-request", "--method", "GET", "--path", "api", *alice)
    # A development enclave (registered on the store: no signer, no document), then a response it
    # signed, relayed by alice: anybody may relay; the signature is what counts.
    pcrs = [f"--pcr{i}={hashlib.sha384(bytes([i])).hexdigest()}" for i in range(3)]
    served.ok("update-pcrs", *pcrs, *admin)
    enclave_key = EnclaveKey.generate()
    registered = served.ok(
        "register-development-enclave", "--db", str(served.db), "--public-key", enclave_key.public_key.hex()
    )
    digest = hashlib.sha256(b"{}").digest()
    signed = enclave_key.sign(response_message(1, 200, digest, 5))
    response = ("store-response", "--request-id", "1", "--status-code", "200", "--body", "{}")
    response += ("--body-digest", digest.hex(), "--enclave", registered["enclaveId"], "--signed-at-ms", "5")
    served.fails("EInvalidResponseSignature", *response, "--signature", "00" * 64, *alice)
    stored = served.ok(*response, "--signature", signed.signature.hex(), *alice)
    assert base64.b64decode(stored["events"][0]["parsedJson"]["body_digest"]) == digest


def test_serve_restarts_on_its_database(tmp_path: Path, keys: dict[str, Keypair]) -> None:
    db, port = tmp_path / "chain.sqlite3", free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "K3S_DAAS_CHAIN_URL": f"{url}/graphql"}
    first = serve(db, port, "--admin", keys["admin"].address)
    try:
        wait_ready(first, url)
        served = Served(first, url, db, env)
        info = served.ok("info")
        record = created(
            served.ok(
                "stake",
                "--role",
                "admin",
                "--amount-mist",
                str(10**10),
                "--suiprivkey",
                encode_suiprivkey(keys["admin"]),
            ),
            "StakeRecord",
        )
    finally:
        stop(first)
    fingerprint = vr.db_fingerprint(db)

    refused = serve(db, port, "--admin", keys["bob"].address)
    assert refused.wait(timeout=60) != 0
    assert refused.stderr is not None and "was created for admin" in refused.stderr.read()

    second = serve(db, port)  # no --admin needed once the chain exists
    try:
        wait_ready(second, url)
        served = Served(second, url, db, env)
        again = served.ok("info")
        assert {k: again[k] for k in ("chainIdentifier", "packageId", "stakingPoolId", "gatewayId", "admin")} == {
            k: info[k] for k in ("chainIdentifier", "packageId", "stakingPoolId", "gatewayId", "admin")
        }
        assert vr.db_fingerprint(db) == fingerprint
        query = json.dumps({"query": f'{{ object(address: "{record}") {{ version }} }}'}).encode()
        request = urllib.request.Request(f"{url}/graphql", data=query, headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["data"]["object"]["version"] == 2
    finally:
        stop(second)
