from __future__ import annotations

import json
from pathlib import Path

import pytest

from k3s_daas.cli import main
from k3s_daas.sui.keystore import load_keystore


def test_keygen_appends_keys_in_the_sui_cli_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keystore = tmp_path / "sui.keystore"
    assert main(["keygen", "--keystore", str(keystore)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["keygen", "--keystore", str(keystore), "--scheme", "secp256r1"]) == 0
    second = json.loads(capsys.readouterr().out)
    keys = load_keystore(keystore)
    assert [k.address for k in keys] == [first["address"], second["address"]]
    assert [first["scheme"], second["scheme"]] == ["ed25519", "secp256r1"]
    assert keystore.stat().st_mode & 0o077 == 0
