"""The enclave module on localnet from the command line, and on a chain created before it existed.

The commands run in-process (``k3s_daas.cli.main``) against a real localnet over HTTP whose chain
clock is set to the recorded document's time, so a real AWS Nitro document registers.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import vector_replay as vr
from localnet_testing import Localnet, ManualClock

from k3s_daas.cli import main
from k3s_daas.enclave.devmode import DEV_PCRS, DevAttestor
from k3s_daas.enclave.keys import EnclaveKey
from k3s_daas.localnet.enclave import valid_pcr
from k3s_daas.localnet.state import Call, InvalidTransaction, MoveAbort
from k3s_daas.localnet.store import Store
from k3s_daas.sui.crypto import Keypair
from k3s_daas.sui.keystore import encode_suiprivkey

VECTOR = next(v for v in vr.load_vectors(vr.ENCLAVE_VECTOR_DIR) if v["name"] == "enclave_register_and_record")
WEATHER = bytes.fromhex(VECTOR["documents"]["nautilus_weather"])
STEPS = {step["step"]: step for step in VECTOR["steps"]}
PCRS = STEPS[6]["args"]  # the PCRs the weather document carries
REGISTER_AT_MS = STEPS[9]["time_ms"]
MESSAGE = STEPS[10]["args"]
WEATHER_KEY = "e8e62201dbe293b703c759f653107acbc2c911fa1d2e66f2c747bec95971a2af"


def run(capsys: pytest.CaptureFixture[str], net: Localnet, *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["localnet", *args, "--url", net.url])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else {}, captured.err


def key_args(key: Keypair) -> list[str]:
    return ["--suiprivkey", encode_suiprivkey(key)]


def test_enclave_entry_functions_from_the_command_line(
    start_localnet: Any, keys: dict[str, Keypair], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = start_localnet(admin=keys["admin"], clock=ManualClock(REGISTER_AT_MS))
    admin, alice, bob = key_args(keys["admin"]), key_args(keys["alice"]), key_args(keys["bob"])
    pcr_args = [f"--pcr{i}={PCRS[f'pcr{i}']}" for i in range(3)]

    code, info, _ = run(capsys, net, "info")
    assert code == 0 and info["enclaveConfigId"] == net.info.deployment.enclave_config_id

    document = tmp_path / "weather.cose"
    document.write_bytes(WEATHER)
    code, _, err = run(capsys, net, "register-enclave", "--document-file", str(document), *alice)
    assert code == 1 and "ENotConfigured" in err

    code, _, err = run(capsys, net, "update-pcrs", *pcr_args, *alice)
    assert code == 1 and "needs the package's AdminCap" in err
    code, _, err = run(capsys, net, "update-pcrs", "--pcr0", "00" * 48, *pcr_args[1:], *admin)
    assert code == 1 and "EInvalidPcr" in err and "201" in err
    code, updated, _ = run(capsys, net, "update-pcrs", *pcr_args, *admin)
    assert code == 0
    (event,) = updated["events"]
    assert event["type"] == f"{net.package_id}::enclave::PcrsUpdated"
    assert event["parsedJson"]["version"] == "1"
    assert base64.b64decode(event["parsedJson"]["pcr2"]).hex() == PCRS["pcr2"]

    # A development document is chained to the development root: the native refuses it, as on Sui.
    dev = tmp_path / "dev.cose"
    dev.write_bytes(DevAttestor().attest(public_key=EnclaveKey.generate().public_key))
    code, _, err = run(capsys, net, "register-enclave", "--document-file", str(dev), *alice)
    assert code == 1 and "EVerifyError" in err

    # The document as raw bytes, as hex, and as a webhook's /attestation answer: the same bytes.
    hex_file, json_file = tmp_path / "weather.hex", tmp_path / "attestation.json"
    hex_file.write_text(WEATHER.hex() + "\n")
    answer = {"format": "k3s-daas/attestation@1", "mode": "nitro", "dev_mode": False}
    json_file.write_text(json.dumps({**answer, "attestation": WEATHER.hex(), "public_key": WEATHER_KEY}))
    registered = []
    for source in (document, hex_file, json_file):
        code, report, err = run(capsys, net, "register-enclave", "--document-file", str(source), *bob)
        assert code == 0, err
        (event,) = report["events"]
        assert event["parsedJson"]["public_key"] == base64.b64encode(bytes.fromhex(WEATHER_KEY)).decode()
        (change,) = [c for c in report["objectChanges"] if c["type"] == "created"]
        assert change["objectType"] == f"{net.package_id}::enclave::Enclave"
        # Shared by the registering transaction, from that transaction's version on.
        assert change["owner"] == {"Shared": {"initial_shared_version": int(change["version"])}}
        registered.append(change["objectId"])
    assert len(set(registered)) == 3

    record = ["--enclave", registered[0], "--intent", "0", "--timestamp-ms", str(MESSAGE["timestamp_ms"])]
    record += ["--payload", MESSAGE["payload"]]
    code, recorded, err = run(capsys, net, "record-message", *record, "--signature", MESSAGE["signature"], *alice)
    assert code == 0, err
    assert recorded["events"][0]["parsedJson"]["sender"] == keys["alice"].address
    assert recorded["objectChanges"] == []  # recording changes no object
    forged = MESSAGE["signature"][:-1] + "1"
    code, _, err = run(capsys, net, "record-message", *record, "--signature", forged, *alice)
    assert code == 1 and "EInvalidSignature" in err
    code, _, err = run(capsys, net, "record-message", *record[2:], "--enclave", "0xdead", "--signature", forged, *bob)
    assert code == 1 and "is missing" in err


def _make_pre_enclave(db: Path) -> None:
    """Turn a fresh chain into one published before the enclave module existed."""
    with sqlite3.connect(db) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        config, package = meta["enclave_config_id"], meta["package_id"]
        for table in ("live_objects", "object_versions", "object_changes"):
            conn.execute(f"DELETE FROM {table} WHERE object_id = ?", (config,))
        conn.execute("DELETE FROM meta WHERE key = 'enclave_config_id'")
        contents = json.dumps({"modules": ["k8s_gateway", "staking"]}, separators=(",", ":"))
        conn.execute("UPDATE object_versions SET contents = ? WHERE object_id = ?", (contents, package))


def test_a_chain_from_before_the_enclave_module_gains_it(tmp_path: Path, keys: dict[str, Keypair]) -> None:
    db = tmp_path / "old.sqlite3"
    admin = keys["admin"].address
    store = Store(db)
    store.initialise(admin, 1_000)
    store.execute(Call("staking", "stake", {"amount": 600_000_000, "role": 0, "node_name": ""}), admin, 2_000)
    _make_pre_enclave(db)
    old = Store(db).info()
    assert old.deployment.enclave_config_id == ""
    with pytest.raises(InvalidTransaction, match="created before the enclave module"):
        Store(db).execute(Call("enclave", "register_enclave", {"document": ""}), admin, 3_000)

    upgraded = Store(db).initialise(None, 4_000)
    config_id = upgraded.deployment.enclave_config_id
    assert config_id and upgraded.deployment.pool_id == old.deployment.pool_id
    assert upgraded.chain_identifier == old.chain_identifier
    with Store(db).read() as view:
        package = view.get_object(old.deployment.package.package_id)
        assert package is not None and package.state.contents["modules"] == ["enclave", "k8s_gateway", "staking"]
        config = view.get_object(config_id)
        assert config is not None and config.state.contents["version"] == "0"
        assert view.latest_transaction().seq == 2  # genesis, the stake, then the upgrade
    assert Store(db).initialise(None, 5_000) == upgraded  # once only
    with pytest.raises(MoveAbort, match="ENotConfigured"):
        Store(db).execute(
            Call("enclave", "register_enclave", {"document": base64.b64encode(WEATHER).decode()}), admin, REGISTER_AT_MS
        )


def test_development_pcrs_are_valid_configuration_values() -> None:
    """The published development PCR0-2 pass update_pcrs' rules (a dev chain may configure them)."""
    assert all(valid_pcr(DEV_PCRS[i]) for i in range(3))
    assert not valid_pcr(bytes(48)) and not valid_pcr(b"\x01" * 32)
