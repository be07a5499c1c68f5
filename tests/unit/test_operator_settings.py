"""The operator's settings: defaults, K3S_DAAS_* variables, KUBECONFIG, and command-line flags."""

from __future__ import annotations

import pytest

from k3s_daas.cli import build_parser
from k3s_daas.settings import Settings, SettingsError
from k3s_daas_operator.commands import apply_flags


def test_defaults_and_environment() -> None:
    default = Settings.from_env({}).operator
    assert default.verify_interval_s == 30.0 and not default.create_from_events and default.kubeconfig == ""
    settings = Settings.from_env(
        {"KUBECONFIG": "/a", "K3S_DAAS_CREATE_FROM_EVENTS": "yes", "K3S_DAAS_DRAIN_DEADLINE_S": "5"}
    ).operator
    assert settings.kubeconfig == "/a" and settings.create_from_events and settings.drain_deadline_s == 5.0
    assert Settings.from_env({"KUBECONFIG": "/a", "K3S_DAAS_KUBECONFIG": "/b"}).operator.kubeconfig == "/b"


@pytest.mark.parametrize(
    ("name", "value"), [("K3S_DAAS_CREATE_FROM_EVENTS", "maybe"), ("K3S_DAAS_VERIFY_INTERVAL_S", "0")]
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_flags_override_the_environment() -> None:
    args = build_parser().parse_args(
        ["operator", "--kubeconfig=/k", "--verify-interval=2", "--create-from-events", "--metrics-port=0"]
    )
    settings = apply_flags(Settings.from_env({"K3S_DAAS_VERIFY_INTERVAL_S": "9"}), args).operator
    assert settings.kubeconfig == "/k" and settings.verify_interval_s == 2.0 and settings.create_from_events
    assert settings.metrics_port == 0


def test_non_positive_intervals_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["operator", "--drain-deadline=-1"])
    assert "must be positive" in capsys.readouterr().err
