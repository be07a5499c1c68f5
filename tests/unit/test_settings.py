from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from k3s_daas.settings import ENV_NAMES, LoadedSettings, Settings, SettingsError, config_schema


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({"HOME": "/home/u"})
    assert settings.control_plane.cache_dir == Path("/home/u/.cache/k3s-daas")
    assert settings.chain.url.startswith("http://127.0.0.1:")


def test_environment_overrides_typed_fields() -> None:
    settings = Settings.from_env(
        {"K3S_DAAS_CACHE_DIR": "/c", "K3S_DAAS_START_TIMEOUT_S": "7.5", "K3S_DAAS_CHAIN_RETRIES": "0"}
    )
    assert settings.control_plane.cache_dir == Path("/c")
    assert settings.control_plane.start_timeout_s == 7.5
    assert settings.chain.retries == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [("K3S_DAAS_START_TIMEOUT_S", "soon"), ("K3S_DAAS_START_TIMEOUT_S", "-1"), ("K3S_DAAS_CHAIN_RETRIES", "-2")],
)
def test_malformed_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


# --- the configuration file, precedence, validation -------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "k3s-daas.toml"
    path.write_text(text)
    return path


def test_file_values_are_typed_and_sourced(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        '[chain]\nurl = "https://sui.example/graphql"\ntimeout_s = 7\n'
        "[webhook]\nport = 8443\nshutdown_grace_s = 1.5\n"
        "[operator]\ncreate_from_events = true\n"
        '[control_plane]\ncache_dir = "~/kube-cache"\nextra_apiserver_args = ["--v=2"]\n',
    )
    loaded = Settings.load({"HOME": "/home/u"}, config)
    settings = loaded.settings
    assert settings.chain.url == "https://sui.example/graphql"
    assert settings.chain.timeout_s == 7.0 and isinstance(settings.chain.timeout_s, float)
    assert settings.webhook.port == 8443 and settings.webhook.shutdown_grace_s == 1.5
    assert settings.operator.create_from_events is True
    assert settings.control_plane.cache_dir == Path("~/kube-cache").expanduser()
    assert settings.control_plane.extra_apiserver_args == ("--v=2",)
    assert loaded.sources["chain.url"] == f"file {config}"
    assert loaded.sources["chain.retries"] == "default"


def test_precedence_is_flags_then_env_then_file_then_defaults(tmp_path: Path) -> None:
    config = _write(tmp_path, '[log]\nlevel = "WARNING"\nformat = "text"\n[chain]\nretries = 5\n')
    environ = {"K3S_DAAS_LOG_LEVEL": "ERROR", "K3S_DAAS_CHAIN_TIMEOUT_S": "9"}
    loaded = Settings.load(environ, config)
    assert loaded.settings.log.level == "ERROR" and loaded.sources["log.level"] == "env K3S_DAAS_LOG_LEVEL"
    assert loaded.settings.log.format == "text" and loaded.sources["log.format"] == f"file {config}"
    assert loaded.settings.chain.retries == 5
    assert loaded.settings.chain.timeout_s == 9.0
    flagged = loaded.with_flags("log", {"level": ("--log-level", "DEBUG"), "format": ("--log-format", None)})
    assert flagged.settings.log.level == "DEBUG" and flagged.sources["log.level"] == "flag --log-level"
    assert flagged.settings.log.format == "text" and flagged.sources["log.format"] == f"file {config}"
    assert loaded.with_flags("log", {"level": ("--log-level", None)}) is loaded


def test_the_file_beats_a_plain_kubeconfig_variable_but_not_ours(tmp_path: Path) -> None:
    config = _write(tmp_path, '[webhook]\nkubeconfig = "/from/file"\n')
    assert Settings.load({"KUBECONFIG": "/plain"}, None).sources["webhook.kubeconfig"] == "env KUBECONFIG"
    assert Settings.load({"KUBECONFIG": "/plain"}, config).settings.webhook.kubeconfig == "/from/file"
    ours = Settings.load({"KUBECONFIG": "/plain", "K3S_DAAS_KUBECONFIG": "/ours"}, config)
    assert ours.settings.webhook.kubeconfig == "/ours"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[chain]\nurll = 'x'\n", r"unknown key \[chain\] urll"),
        ("[chian]\nurl = 'x'\n", r"unknown section \[chian\]"),
        ("chain = 3\n", r"chain must be a table"),
        ("[webhook]\nport = '9443'\n", r"\[webhook\] port = '9443': expected a whole number"),
        ("[webhook]\nport = 94.5\n", r"\[webhook\] port = 94.5: expected a whole number"),
        ("[webhook]\nport = true\n", r"\[webhook\] port = True: expected a whole number"),
        ("[webhook]\nport = 70000\n", r"webhook.port = 70000: a port is at most 65535"),
        ("[chain]\ntimeout_s = 0\n", r"\[chain\] timeout_s = 0.0: must be positive"),
        ("[chain]\nretries = -1\n", r"\[chain\] retries = -1: must not be negative"),
        ("[chain]\nurl = 5\n", r"\[chain\] url = 5: expected a string"),
        ("[operator]\ncreate_from_events = 'yes'\n", r"create_from_events = 'yes': expected true or false"),
        ("[control_plane]\nextra_apiserver_args = '--v=2'\n", r"expected a list of strings"),
        ("[log]\nformat = 'xml'\n", r"log.format = 'xml': use one of auto, json, text"),
        ("[chain\nurl = 'x'\n", r"not valid TOML"),
    ],
)
def test_file_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = _write(tmp_path, text)
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.load({}, config)
    if "65535" not in message and "log.format" not in message:
        assert str(config) in str(caught.value)


def test_a_missing_file_is_an_error_not_silence(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"configuration file .*absent.toml does not exist"):
        Settings.load({}, tmp_path / "absent.toml")


def test_the_environment_is_validated_too() -> None:
    with pytest.raises(SettingsError, match=r"log\.level = 'LOUD'"):
        Settings.from_env({"K3S_DAAS_LOG_LEVEL": "LOUD"})
    with pytest.raises(SettingsError, match=r"localnet\.port = 123456"):
        Settings.from_env({"K3S_DAAS_LOCALNET_PORT": "123456"})


def test_every_field_is_in_the_file_schema_and_has_an_environment_variable() -> None:
    schema = config_schema()
    for section in dataclasses.fields(Settings):
        names = {f.name for f in dataclasses.fields(getattr(Settings(), section.name))}
        assert set(schema[section.name]) == names
        # extra_apiserver_args is a list: flags (--apiserver-arg) and the file only.
        assert set(ENV_NAMES[section.name]) == names - {"extra_apiserver_args"}, section.name


def test_environment_variable_names_are_unique_and_documented() -> None:
    import inspect

    from k3s_daas import settings as module

    source = inspect.getsource(module)
    seen: dict[str, str] = {}
    for section, names in ENV_NAMES.items():
        for field_name, suffix in names.items():
            # KUBECONFIG is shared on purpose: one cluster credential for the operator and the webhook.
            if suffix != "KUBECONFIG":
                assert suffix not in seen, f"{section}.{field_name} and {seen[suffix]} share K3S_DAAS_{suffix}"
            seen[suffix] = f"{section}.{field_name}"
            assert re.search(rf"\bK3S_DAAS_{suffix}\b", source), f"K3S_DAAS_{suffix} is not in any docstring"


def test_loaded_settings_keep_a_source_for_every_field() -> None:
    loaded = Settings.load({"K3S_DAAS_WEBHOOK_PORT": "1"})
    assert isinstance(loaded, LoadedSettings)
    assert set(loaded.sources) == {f"{s}.{k}" for s, keys in config_schema().items() for k in keys}
    assert loaded.sources["webhook.port"] == "env K3S_DAAS_WEBHOOK_PORT"
