"""The CLI imports only the module of the command it runs, and that table matches the modules."""

from __future__ import annotations

import subprocess
import sys

from k3s_daas.cli import COMMAND_MODULES, build_parser


def test_the_table_names_exactly_the_registered_commands() -> None:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(subparsers.choices) == set(COMMAND_MODULES)  # type: ignore[arg-type]


def test_every_command_registers_from_its_own_module_alone() -> None:
    for command in COMMAND_MODULES:
        subparsers = next(a for a in build_parser(command)._actions if a.dest == "command")
        assert command in subparsers.choices  # type: ignore[operator]


def test_the_exec_plugin_does_not_import_the_servers() -> None:
    probe = (
        "import sys; from k3s_daas import cli; cli.build_parser('token'); "
        "print(','.join(m for m in ('aiohttp', 'graphql', 'kopf', 'kubernetes') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
