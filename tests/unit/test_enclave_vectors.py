"""The enclave scenario vectors (contracts/vectors/enclave/*.json) replayed on a Python model.

The model below is ``enclave.move`` in a few lines, with ``load_nitro_attestation`` being this
project's verifier in Sui's mode (AWS root, certificates valid at the clock time). Every step's
abort code, events and state must be exactly the vector's, which shows that the vectors' real
documents and signatures behave as they claim outside Move too. localnet's implementation of the
module (k3s_daas/localnet/enclave.py) replays the same vectors in tests/chain/test_localnet_vectors.py.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from enclave_testing import RECORDED

from k3s_daas.enclave.attestation import load_nitro_attestation
from k3s_daas.enclave.errors import AttestationVerifyError, EnclaveSignatureError, MalformedAttestation
from k3s_daas.enclave.keys import IntentMessage, verify_signed_message

VECTOR_DIR = Path(__file__).resolve().parents[2] / "contracts" / "vectors" / "enclave"
VECTORS = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(VECTOR_DIR.glob("*.json"))]
MAX_ATTESTATION_AGE_MS = 300_000


class Abort(Exception):
    def __init__(self, module: str, name: str, code: int) -> None:
        super().__init__(f"{module}::{name} ({code})")
        self.expect = {"module": module, "name": name, "code": code}


def enclave_abort(name: str) -> Abort:
    codes = {
        "ENotConfigured": 200,
        "EInvalidPcr": 201,
        "ENoPublicKey": 202,
        "EInvalidPublicKey": 203,
        "EPcrMismatch": 204,
        "EStaleAttestation": 205,
        "EOutdatedEnclave": 206,
        "EInvalidSignature": 207,
    }
    return Abort("enclave", name, codes[name])


@dataclass
class Registered:
    public_key: bytes
    config_version: int
    attested_at_ms: int


@dataclass
class Model:
    pcrs: tuple[bytes, bytes, bytes] = (b"", b"", b"")
    version: int = 0
    enclaves: dict[str, Registered] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def update_pcrs(self, pcr0: bytes, pcr1: bytes, pcr2: bytes) -> list[dict[str, Any]]:
        if not all(len(p) == 48 and any(p) for p in (pcr0, pcr1, pcr2)):
            raise enclave_abort("EInvalidPcr")
        self.pcrs, self.version = (pcr0, pcr1, pcr2), self.version + 1
        fields = {"version": self.version, "pcr0": pcr0.hex(), "pcr1": pcr1.hex(), "pcr2": pcr2.hex()}
        return [{"type": "enclave::PcrsUpdated", "fields": fields}]

    def register_enclave(self, document: bytes, now_ms: int, sender: str, bind: str) -> list[dict[str, Any]]:
        try:
            parsed = load_nitro_attestation(document, now_ms)
        except MalformedAttestation:
            raise Abort("nitro_attestation", "EParseError", 1) from None
        except AttestationVerifyError:
            raise Abort("nitro_attestation", "EVerifyError", 2) from None
        if self.version == 0:
            raise enclave_abort("ENotConfigured")
        if parsed.public_key is None:
            raise enclave_abort("ENoPublicKey")
        if len(parsed.public_key) != 32:
            raise enclave_abort("EInvalidPublicKey")
        if tuple(parsed.pcrs.get(i, b"") for i in (0, 1, 2)) != self.pcrs:
            raise enclave_abort("EPcrMismatch")
        if now_ms > parsed.timestamp_ms and now_ms - parsed.timestamp_ms > MAX_ATTESTATION_AGE_MS:
            raise enclave_abort("EStaleAttestation")
        self.enclaves[bind] = Registered(parsed.public_key, self.version, parsed.timestamp_ms)
        fields = {
            "enclave_id": bind,
            "owner": sender,
            "public_key": parsed.public_key.hex(),
            "config_version": self.version,
            "attested_at_ms": parsed.timestamp_ms,
        }
        return [{"type": "enclave::EnclaveRegistered", "fields": fields}]

    def record_message(self, args: dict[str, Any], sender: str) -> list[dict[str, Any]]:
        registered = self.enclaves[args["enclave"]]
        if registered.config_version != self.version:
            raise enclave_abort("EOutdatedEnclave")
        message = IntentMessage(args["intent"], args["timestamp_ms"], bytes.fromhex(args["payload"]))
        try:
            verify_signed_message(registered.public_key, message, bytes.fromhex(args["signature"]))
        except EnclaveSignatureError:
            raise enclave_abort("EInvalidSignature") from None
        fields = {
            "enclave_id": args["enclave"],
            "sender": sender,
            "intent": args["intent"],
            "timestamp_ms": args["timestamp_ms"],
            "payload": args["payload"],
        }
        return [{"type": "enclave::MessageRecorded", "fields": fields}]

    def state(self) -> dict[str, Any]:
        return {
            "enclave_config": {
                "version": self.version,
                "pcr0": self.pcrs[0].hex(),
                "pcr1": self.pcrs[1].hex(),
                "pcr2": self.pcrs[2].hex(),
            },
            "enclaves": {
                name: {
                    "public_key": e.public_key.hex(),
                    "config_version": e.config_version,
                    "attested_at_ms": e.attested_at_ms,
                }
                for name, e in self.enclaves.items()
            },
        }


def run(model: Model, vector: dict[str, Any], step: dict[str, Any]) -> list[dict[str, Any]]:
    args, call = step["args"], step["call"]
    if call == "enclave::update_pcrs":
        return model.update_pcrs(*(bytes.fromhex(args[k]) for k in ("pcr0", "pcr1", "pcr2")))
    if call == "enclave::register_enclave":
        document = bytes.fromhex(vector["documents"][args["document"]])
        return model.register_enclave(document, step["time_ms"], step["sender"], step.get("bind", "?"))
    assert call == "enclave::record_message", call
    return model.record_message(args, step["sender"])


def test_there_are_enclave_vectors_covering_every_abort() -> None:
    assert len(VECTORS) >= 2
    seen = {
        (s["expect"]["abort"]["module"], s["expect"]["abort"]["name"])
        for v in VECTORS
        for s in v["steps"]
        if "abort" in s["expect"]
    }
    # EInvalidPublicKey is a guard no recorded document reaches (contracts/tests/enclave_tests.move covers it).
    enclave_codes = {
        "ENotConfigured",
        "EInvalidPcr",
        "ENoPublicKey",
        "EPcrMismatch",
        "EStaleAttestation",
        "EOutdatedEnclave",
        "EInvalidSignature",
    }
    assert {name for module, name in seen if module == "enclave"} == enclave_codes
    assert {name for module, name in seen if module == "nitro_attestation"} == {"EParseError", "EVerifyError"}


def test_vector_documents_are_the_recorded_ones() -> None:
    recorded = {entry["document"] for entry in RECORDED["documents"].values()}
    for vector in VECTORS:
        for name, document in vector["documents"].items():
            if "bad" not in name and name != "garbage":
                assert document in recorded, name


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_replays_on_the_python_model(vector: dict[str, Any]) -> None:
    model = Model()
    for step in vector["steps"]:
        where = f"{vector['name']} step {step['step']} ({step['call']})"
        expect = step["expect"]
        before = model.state()
        try:
            events = run(model, vector, step)
        except Abort as abort:
            assert "abort" in expect, f"{where}: aborted with {abort}"
            assert abort.expect == expect["abort"], where
            assert model.state() == before, f"{where}: an abort changed the state"
            continue
        assert "abort" not in expect, f"{where}: expected {expect['abort']}, succeeded"
        assert events == expect["events"], where
        state = model.state()
        for key, want in expect["state"].items():
            if key == "enclaves":
                for name, entry in want.items():
                    assert state["enclaves"][name] == entry, where
            else:
                assert state[key] == want, where
