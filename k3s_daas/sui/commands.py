"""`k3s-daas keygen`: a Sui key in the Sui CLI's keystore format, for people without the Sui CLI.

The keystore is the same file `sui keytool` writes, so a key made here works with the Sui CLI and a
key made there works here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from k3s_daas.settings import Settings
from k3s_daas.sui.crypto import Keypair, SignatureScheme
from k3s_daas.sui.keystore import KeystoreError, load_keystore, write_keystore

SCHEMES = {scheme.label.lower(): scheme for scheme in SignatureScheme}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "keygen",
        help="create a Sui key and add it to a Sui CLI keystore (created if absent)",
        description="Create a Sui key and append it to a keystore file in the Sui CLI's format.",
    )
    parser.add_argument("--keystore", type=Path, required=True, help="the sui.keystore file to add the key to")
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default="ed25519")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    keystore: Path = args.keystore
    existing = load_keystore(keystore) if keystore.exists() else []
    key = Keypair.generate(SCHEMES[args.scheme])
    if any(k.address == key.address for k in existing):
        raise KeystoreError(f"{keystore} already holds {key.address}")  # astronomically unlikely
    write_keystore(keystore, [*existing, key])
    print(json.dumps({"address": key.address, "scheme": key.scheme.label.lower(), "keystore": str(keystore)}))
    return 0
