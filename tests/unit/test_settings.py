from __future__ import annotations

from pathlib import Path

import pytest

from k3s_daas.settings import Settings, SettingsError


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
