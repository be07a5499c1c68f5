"""`k3s-daas config show`: every setting with its source, secrets and URL credentials redacted, and
TOML output that is itself a valid configuration file."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from pathlib import Path

import pytest

from k3s_daas.cli import main
from k3s_daas.config_commands import REDACTED, effective, redact_url
from k3s_daas.settings import Settings, secret


def _show(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["config", "show"]) == 0
    return capsys.readouterr().out


def test_json_shows_values_and_where_they_came_from(tmp_path, monkeypatch, capsys) -> None:
    config = tmp_path / "k3s-daas.toml"
    config.write_text("[webhook]\nport = 8443\n[chain]\nretries = 1\n")
    monkeypatch.setenv("K3S_DAAS_CHAIN_RETRIES", "4")
    monkeypatch.setenv("K3S_DAAS_CONFIG", str(config))
    assert main(["--log-level", "DEBUG", "config", "show", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["settings"]["webhook"]["port"] == 8443
    assert document["sources"]["webhook.port"] == f"file {config}"
    assert document["settings"]["chain"]["retries"] == 4
    assert document["sources"]["chain.retries"] == "env K3S_DAAS_CHAIN_RETRIES"
    assert document["settings"]["log"]["level"] == "DEBUG"
    assert document["sources"]["log.level"] == "flag --log-level"
    assert document["sources"]["chain.timeout_s"] == "default"


def test_the_config_flag_beats_the_variable(tmp_path, monkeypatch, capsys) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text("[webhook]\nport = 1111\n")
    second.write_text("[webhook]\nport = 2222\n")
    monkeypatch.setenv("K3S_DAAS_CONFIG", str(first))
    assert main(["--config", str(second), "config", "show", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["webhook"]["port"] == 2222


def test_a_bad_file_stops_any_command_with_one_clear_line(tmp_path, monkeypatch, capsys) -> None:
    config = tmp_path / "k3s-daas.toml"
    config.write_text("[webhook]\nprot = 1\n")
    monkeypatch.delenv("K3S_DAAS_CONFIG", raising=False)
    assert main(["--config", str(config), "version"]) == 2
    error = capsys.readouterr().err
    assert error == f"k3s-daas: error: {config}: unknown key [webhook] prot (known: {_known_webhook_keys()})\n"


def _known_webhook_keys() -> str:
    return ", ".join(sorted(f.name for f in dataclasses.fields(Settings().webhook)))


def test_toml_output_round_trips_as_a_configuration_file(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("K3S_DAAS_CONFIG", raising=False)
    monkeypatch.setenv("K3S_DAAS_WEBHOOK_STATIC_NODES", 'server-0,"quoted"\\node')
    monkeypatch.setenv("K3S_DAAS_VERIFY_INTERVAL_S", "12.5")
    text = _show(capsys)
    assert re.search(r'^static_nodes = ".*"  # env K3S_DAAS_WEBHOOK_STATIC_NODES$', text, re.M)
    copy = tmp_path / "copy.toml"
    copy.write_text(text)
    from_copy = Settings.load({}, copy).settings
    assert from_copy == Settings.load(dict(os.environ)).settings
    assert tomllib.loads(text)["webhook"]["static_nodes"] == 'server-0,"quoted"\\node'


def test_credentials_in_urls_are_redacted(monkeypatch, capsys) -> None:
    monkeypatch.delenv("K3S_DAAS_CONFIG", raising=False)
    monkeypatch.setenv("K3S_DAAS_CHAIN_URL", "https://reader:s3cr3t@sui.example/graphql?apiKey=k3y&x=1")
    text = _show(capsys)
    assert "s3cr3t" not in text and "k3y" not in text
    assert f'url = "https://reader:{REDACTED}@sui.example/graphql?apiKey={REDACTED}&x={REDACTED}"' in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:9125/graphql", "http://127.0.0.1:9125/graphql"),
        ("https://user@host/path", "https://user@host/path"),
        ("https://:pw@host", f"https://:{REDACTED}@host"),
        ("not a url", "not a url"),
        ("/var/lib/file", "/var/lib/file"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_fields_marked_secret_are_redacted() -> None:
    @dataclasses.dataclass(frozen=True)
    class Vault:
        password: str = secret("hunter2")
        unset: str = secret()
        key_file: str = "/etc/vault/key.pem"

    @dataclasses.dataclass(frozen=True)
    class WithVault:
        vault: Vault = dataclasses.field(default_factory=Vault)

    shown = effective(WithVault())  # type: ignore[arg-type]
    assert shown == {"vault": {"password": REDACTED, "unset": "", "key_file": "/etc/vault/key.pem"}}


def test_every_field_that_names_a_credential_is_marked_secret() -> None:
    """A guard for fields added later: a str field called *password*, *token*, *secret* or *key* that
    is not a file name must be marked with settings.secret()."""
    credential = re.compile(r"password|secret|token|private_key|api_key|apikey")
    for section in dataclasses.fields(Settings):
        for item in dataclasses.fields(getattr(Settings(), section.name)):
            if item.type == "str" and credential.search(item.name) and not item.name.endswith(("_file", "_path")):
                assert item.metadata.get("secret"), f"{section.name}.{item.name} looks like a credential"


def test_help_lists_the_new_commands_and_global_flags(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for word in ("config", "version", "--config FILE", "--log-format", "--log-level"):
        assert word in text


def test_file_names_are_shown_as_they_are(tmp_path: Path) -> None:
    settings = Settings.from_env({"K3S_DAAS_LOCALNET_DB": str(tmp_path / "chain.sqlite3")})
    assert effective(settings)["localnet"]["db_path"] == str(tmp_path / "chain.sqlite3")


def test_up_hands_the_global_flags_down_to_the_processes_it_starts(tmp_path, monkeypatch) -> None:
    import argparse

    from k3s_daas.up import _hand_down_global_flags

    for name in ("K3S_DAAS_CONFIG", "K3S_DAAS_LOG_FORMAT", "K3S_DAAS_LOG_LEVEL"):
        monkeypatch.setenv(name, "before")  # restored after the test
    config = tmp_path / "k3s-daas.toml"
    _hand_down_global_flags(argparse.Namespace(config=config, log_format="json", log_level=None))
    assert os.environ["K3S_DAAS_CONFIG"] == str(config.resolve())
    assert os.environ["K3S_DAAS_LOG_FORMAT"] == "json"
    assert os.environ["K3S_DAAS_LOG_LEVEL"] == "before"
