"""`k3s-daas`: the one console script. Subcommands live next to the code they drive.

Each feature module exposes ``register(subparsers)``, which adds its parser and sets ``run``,
a function of (parsed arguments, settings) returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol, cast

from k3s_daas import __version__
from k3s_daas.errors import UserError
from k3s_daas.settings import CONFIG_ENV, LOG_FORMATS, LOG_LEVELS, LoadedSettings, Settings, SettingsError


class CommandModule(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


Run = Callable[[argparse.Namespace, Settings], int]


# Top-level command -> the module that registers it. Only the named module is imported, so
# `k3s-daas token`, which kubectl runs before every request, does not pay for aiohttp, graphql
# or kopf; --help and unknown commands import them all.
COMMAND_MODULES: Final = {
    "up": "k3s_daas.up",
    "cluster": "k3s_daas.controlplane.commands",
    "keygen": "k3s_daas.sui.commands",
    "localnet": "k3s_daas.localnet.commands",
    "token": "k3s_daas.credential.commands",
    "kubeconfig": "k3s_daas.credential.commands",
    "verify-signature": "k3s_daas.credential.commands",
    "join": "k3s_daas.credential.commands",
    "operator": "k3s_daas_operator.commands",
    "webhook": "k3s_daas_webhook.commands",
    "bench": "k3s_daas.benchmark_commands",
    "attest": "k3s_daas.enclave.commands",
    "request": "k3s_daas.onchain_requests.commands",
    "config": "k3s_daas.config_commands",
    "version": "k3s_daas.version",
}


def _command_modules(command: str | None) -> list[CommandModule]:
    names = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else list(dict.fromkeys(COMMAND_MODULES.values()))
    return [cast(CommandModule, importlib.import_module(name)) for name in names]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k3s-daas",
        description="Stake-gated Kubernetes: API access and node membership decided by stake on Sui.",
    )
    parser.add_argument("--version", action="version", version=f"k3s-daas {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"TOML configuration file (default: ${CONFIG_ENV}, else none); flags > env > file > defaults",
    )
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default=None, help="auto: text at a terminal, else JSON lines"
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=None, help="default: INFO")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _command_modules(command):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    run: Run = args.run
    try:
        settings = load_settings(args, os.environ).settings
        return run(args, settings)
    except (UserError, SettingsError) as error:
        print(f"k3s-daas: error: {error}", file=sys.stderr)
        return error.exit_code if isinstance(error, UserError) else 2
    except KeyboardInterrupt:
        return 130


def load_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> LoadedSettings:
    """Defaults < ``--config`` file (else ``$K3S_DAAS_CONFIG``) < environment < the global flags.

    Each command applies its own flags on top of the returned settings."""
    config: Path | None = args.config
    if config is None and environ.get(CONFIG_ENV):
        config = Path(environ[CONFIG_ENV]).expanduser()
    loaded = Settings.load(environ, config)
    return loaded.with_flags(
        "log", {"format": ("--log-format", args.log_format), "level": ("--log-level", args.log_level)}
    )


if __name__ == "__main__":
    sys.exit(main())
