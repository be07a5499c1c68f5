"""`k3s-daas`: the one console script. Subcommands live next to the code they drive.

Each feature module exposes ``register(subparsers)``, which adds its parser and sets ``run``,
a function of (parsed arguments, settings) returning the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from k3s_daas import __version__
from k3s_daas.errors import UserError
from k3s_daas.settings import Settings, SettingsError


class CommandModule(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


Run = Callable[[argparse.Namespace, Settings], int]


def _command_modules() -> list[CommandModule]:
    from k3s_daas import up
    from k3s_daas.controlplane import commands as controlplane_commands
    from k3s_daas.credential import commands as credential_commands
    from k3s_daas.enclave import commands as enclave_commands
    from k3s_daas.localnet import commands as localnet_commands
    from k3s_daas.sui import commands as key_commands
    from k3s_daas_operator import commands as operator_commands
    from k3s_daas_webhook import commands as webhook_commands

    return [
        up,
        controlplane_commands,
        key_commands,
        localnet_commands,
        credential_commands,
        operator_commands,
        webhook_commands,
        enclave_commands,
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k3s-daas",
        description="Stake-gated Kubernetes: API access and node membership decided by stake on Sui.",
    )
    parser.add_argument("--version", action="version", version=f"k3s-daas {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Run = args.run
    try:
        settings = Settings.from_env(os.environ)
        return run(args, settings)
    except (UserError, SettingsError) as error:
        print(f"k3s-daas: error: {error}", file=sys.stderr)
        return error.exit_code if isinstance(error, UserError) else 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
