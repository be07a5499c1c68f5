"""Where a user's Sui key comes from: the Sui CLI's keystore and client.yaml, or a ``suiprivkey``.

Formats, as the Sui CLI and the TypeScript SDK write them:

* ``sui.keystore``: a JSON array of base64 strings, each ``flag || 32-byte secret``;
* ``client.yaml``: YAML with ``active_address`` and ``keystore: {File: <path>}``;
* ``suiprivkey1...``: Bech32 (not Bech32m), human-readable part ``suiprivkey``, payload
  ``flag || 32-byte secret``.

No error message here ever contains key material: they name the file and the entry index.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from k3s_daas.errors import UserError
from k3s_daas.sui import bech32
from k3s_daas.sui.crypto import (
    SECRET_LENGTH,
    AddressError,
    Keypair,
    SignatureError,
    SignatureScheme,
    normalize_address,
)

__all__ = [
    "SUIPRIVKEY_HRP",
    "KeystoreError",
    "active_address",
    "client_keystore_path",
    "encode_suiprivkey",
    "load_key",
    "load_keystore",
    "parse_suiprivkey",
    "select_key",
    "sui_config_dir",
    "write_keystore",
]

SUIPRIVKEY_HRP: Final = "suiprivkey"
_ENTRY_LENGTH: Final = 1 + SECRET_LENGTH
# Before 2023 the Sui CLI stored Ed25519 keys as flag || secret || public key.
_LEGACY_ENTRY_LENGTH: Final = 1 + SECRET_LENGTH + 32


class KeystoreError(UserError):
    """A keystore, client.yaml or suiprivkey that cannot be used, or a key that is not there."""


def sui_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The Sui CLI's configuration folder: ``$SUI_CONFIG_DIR``, else ``~/.sui/sui_config``."""
    env = os.environ if environ is None else environ
    configured = env.get("SUI_CONFIG_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".sui" / "sui_config"


def _keypair_from_payload(payload: bytes, where: str) -> Keypair:
    if len(payload) == _LEGACY_ENTRY_LENGTH:
        raise KeystoreError(
            f"{where}: {len(payload)} bytes is the pre-2023 key format; re-import the key with "
            "`sui keytool import` or export it as a suiprivkey"
        )
    if len(payload) != _ENTRY_LENGTH:
        raise KeystoreError(
            f"{where}: expected {_ENTRY_LENGTH} bytes (scheme flag and 32-byte secret), got {len(payload)}"
        )
    flag = payload[0]
    try:
        scheme = SignatureScheme(flag)
    except ValueError:
        raise KeystoreError(
            f"{where}: key scheme flag {flag} is not Ed25519 (0), Secp256k1 (1) or Secp256r1 (2)"
        ) from None
    try:
        return Keypair.from_secret(scheme, payload[1:])
    except SignatureError as error:
        raise KeystoreError(f"{where}: {error}") from None


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeystoreError(f"{what} {path} does not exist") from None
    except UnicodeDecodeError:
        raise KeystoreError(f"{what} {path} is not UTF-8 text") from None
    except OSError as error:
        raise KeystoreError(f"cannot read {what} {path}: {error.strerror}") from None


def load_keystore(path: Path) -> list[Keypair]:
    """Every key in a Sui CLI keystore file, in file order."""
    text = _read_text(path, "keystore")
    try:
        entries: Any = json.loads(text)
    except json.JSONDecodeError as error:
        # error.msg and the position only: str(error) is safe too, but never quote the document.
        raise KeystoreError(
            f"keystore {path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(entries, list):
        raise KeystoreError(f"keystore {path} must be a JSON array of base64 strings")
    keys: list[Keypair] = []
    for index, entry in enumerate(entries):
        where = f"keystore {path}: entry {index}"
        if not isinstance(entry, str):
            raise KeystoreError(f"{where}: expected a base64 string, got {type(entry).__name__}")
        try:
            payload = base64.b64decode(entry, validate=True)
        except (binascii.Error, ValueError):
            raise KeystoreError(f"{where}: not valid base64") from None
        keys.append(_keypair_from_payload(payload, where))
    return keys


def write_keystore(path: Path, keys: Sequence[Keypair]) -> None:
    """Write ``keys`` as a Sui CLI keystore, readable by its owner only (mode 0600).

    The file is replaced atomically so a crash never leaves a half-written keystore behind.
    """
    entries = [base64.b64encode(bytes([key.scheme]) + key.secret_bytes()).decode("ascii") for key in keys]
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 before any secret is written to it.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).chmod(0o600)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
        raise


def select_key(keys: Sequence[Keypair], address: str) -> Keypair:
    """The key for ``address``; the error lists the addresses that are there, never a secret."""
    try:
        wanted = normalize_address(address)
    except AddressError as error:
        raise KeystoreError(f"cannot select a key: {error}") from None
    for key in keys:
        if key.address == wanted:
            return key
    if not keys:
        raise KeystoreError(f"no key for {wanted}: the keystore is empty")
    present = ", ".join(key.address for key in keys)
    raise KeystoreError(f"no key for {wanted} in the keystore; it holds {present}")


def _load_client_yaml(client_yaml: Path) -> dict[str, Any] | None:
    if not client_yaml.exists():
        return None
    text = _read_text(client_yaml, "Sui client config")
    import yaml  # here: ~40 ms the exec plugin pays on every kubectl run when --address is given

    try:
        document: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        position = f" at line {mark.line + 1}" if mark is not None else ""
        raise KeystoreError(f"Sui client config {client_yaml} is not valid YAML{position}") from None
    if document is None:
        return None
    if not isinstance(document, dict):
        raise KeystoreError(f"Sui client config {client_yaml} must be a YAML mapping")
    return document


def active_address(client_yaml: Path) -> str | None:
    """The Sui CLI's ``active_address`` (normalized), or None when it or the file is absent."""
    document = _load_client_yaml(client_yaml)
    if document is None:
        return None
    value = document.get("active_address")
    if value is None:
        return None
    # YAML 1.1 reads an unquoted 0x... as an integer; an address is a 256-bit number, so that is lossless.
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"0x{value:x}"
    if not isinstance(value, str):
        raise KeystoreError(f"Sui client config {client_yaml}: active_address must be a string")
    try:
        return normalize_address(value)
    except AddressError as error:
        raise KeystoreError(f"Sui client config {client_yaml}: active_address: {error}") from None


def client_keystore_path(client_yaml: Path) -> Path | None:
    """The keystore file client.yaml points at (``keystore: {File: ...}``), if any."""
    document = _load_client_yaml(client_yaml)
    if document is None:
        return None
    keystore = document.get("keystore")
    if not isinstance(keystore, dict):
        return None
    file = keystore.get("File")
    if not isinstance(file, str) or not file:
        return None
    # The Sui CLI writes absolute paths; a relative one is taken relative to client.yaml.
    return client_yaml.parent / Path(file).expanduser()


def parse_suiprivkey(text: str) -> Keypair:
    """A key from its ``suiprivkey1...`` form (``sui keytool export``, wallets' "export key")."""
    try:
        hrp, payload = bech32.decode(text.strip())
    except bech32.Bech32Error as error:
        raise KeystoreError(f"suiprivkey: {error}") from None
    if hrp != SUIPRIVKEY_HRP:
        raise KeystoreError(f"suiprivkey: expected the prefix {SUIPRIVKEY_HRP}1, got {hrp}1")
    return _keypair_from_payload(payload, "suiprivkey")


def encode_suiprivkey(key: Keypair) -> str:
    """The ``suiprivkey1...`` form of ``key``, as ``sui keytool export`` prints it."""
    return bech32.encode(SUIPRIVKEY_HRP, bytes([key.scheme]) + key.secret_bytes())


def load_key(
    keystore: Path | None,
    address: str | None,
    suiprivkey: str | None,
    client_yaml: Path | None,
) -> Keypair:
    """The signing key the CLI uses.

    1. An explicit ``suiprivkey`` wins (and must match ``address`` when that is given too).
    2. Otherwise a keystore: ``keystore``, else the one client.yaml names. The key is ``address``,
       else client.yaml's ``active_address``, else the only key in the keystore.
    """
    if suiprivkey is not None:
        key = parse_suiprivkey(suiprivkey)
        if address is not None:
            try:
                wanted = normalize_address(address)
            except AddressError as error:
                raise KeystoreError(f"--address: {error}") from None
            if key.address != wanted:
                raise KeystoreError(f"the suiprivkey is the key of {key.address}, not of {wanted}")
        return key

    if keystore is None and client_yaml is not None:
        keystore = client_keystore_path(client_yaml)
    if keystore is None:
        raise KeystoreError(
            "no Sui key: give a suiprivkey or a keystore"
            + (f" (no keystore named in {client_yaml})" if client_yaml is not None else "")
        )
    keys = load_keystore(keystore)

    if address is not None:
        return _select(keys, address, keystore)
    active = active_address(client_yaml) if client_yaml is not None else None
    if active is not None:
        return _select(keys, active, keystore, source=f" (active_address in {client_yaml})")
    if len(keys) == 1:
        return keys[0]
    raise KeystoreError(
        f"keystore {keystore} holds {len(keys)} keys and no address was chosen: "
        "give an address, or set one with `sui client switch --address`"
    )


def _select(keys: Sequence[Keypair], address: str, keystore: Path, source: str = "") -> Keypair:
    try:
        return select_key(keys, address)
    except KeystoreError as error:
        raise KeystoreError(f"keystore {keystore}{source}: {error}") from None
