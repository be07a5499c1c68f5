"""The key-selection flags shared by `token`, `kubeconfig` and `join`, and the key they select.

Precedence (the same as k3s_daas.sui.keystore.load_key): an explicit suiprivkey, else the keystore
(``--keystore``, else the one the Sui CLI's client.yaml names, else ``~/.sui/sui_config/sui.keystore``)
with ``--address``, else the Sui CLI's active address, else the keystore's only key.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from k3s_daas.sui.crypto import Keypair
from k3s_daas.sui.keystore import KeystoreError, client_keystore_path, load_key, sui_config_dir


def add_key_arguments(parser: argparse.ArgumentParser) -> None:
    keys = parser.add_argument_group("Sui key (default: the Sui CLI's keystore and active address)")
    keys.add_argument(
        "--keystore",
        type=Path,
        default=None,
        metavar="FILE",
        help="a Sui CLI keystore (~/.sui/sui_config/sui.keystore)",
    )
    keys.add_argument("--address", default=None, metavar="0x...", help="which key of the keystore")
    keys.add_argument(
        "--suiprivkey-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="a file holding a bech32 suiprivkey1... key (as `sui keytool export` prints it)",
    )
    keys.add_argument(
        "--client-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="the Sui CLI's client.yaml, for its keystore and active address (default: in $SUI_CONFIG_DIR)",
    )


@dataclass(frozen=True)
class KeySelection:
    """The key-selection flags as given, so they can be written into a kubeconfig verbatim."""

    keystore: Path | None
    address: str | None
    suiprivkey_file: Path | None
    client_config: Path | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> KeySelection:
        return cls(args.keystore, args.address, args.suiprivkey_file, args.client_config)

    def as_flags(self) -> list[str]:
        flags: list[str] = []
        if self.keystore is not None:
            flags += ["--keystore", str(self.keystore.expanduser().absolute())]
        if self.address is not None:
            flags += ["--address", self.address]
        if self.suiprivkey_file is not None:
            flags += ["--suiprivkey-file", str(self.suiprivkey_file.expanduser().absolute())]
        if self.client_config is not None:
            flags += ["--client-config", str(self.client_config.expanduser().absolute())]
        return flags

    def load(self) -> Keypair:
        suiprivkey = None
        if self.suiprivkey_file is not None:
            try:
                suiprivkey = self.suiprivkey_file.expanduser().read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as error:
                raise KeystoreError(f"cannot read the suiprivkey file {self.suiprivkey_file}: {error}") from None
        client_yaml = self.client_config or (sui_config_dir() / "client.yaml")
        keystore = self.keystore
        if keystore is None and suiprivkey is None and client_keystore_path(client_yaml) is None:
            keystore = sui_config_dir() / "sui.keystore"
        return load_key(keystore, self.address, suiprivkey, client_yaml)
