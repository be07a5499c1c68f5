"""The optional configuration file: TOML, one table per settings section, keys named like the fields.

::

    [chain]
    url = "https://graphql.testnet.example/graphql"

    [webhook]
    port = 9443
    shutdown_grace_s = 5.0

Pure: text in, typed values out. Every error names the file and the key (``[webhook] port``), so a
typo or a wrong type stops the program at start instead of being ignored.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path


class ConfigFileError(ValueError):
    """The configuration file cannot be read, is not TOML, or holds an unknown key or a wrong type."""


Schema = Mapping[str, Mapping[str, str]]
"""Section name -> field name -> the field's type, as written in its annotation (``"float"``, ``"Path"``)."""


def read_config_file(path: Path, schema: Schema) -> dict[str, dict[str, object]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"configuration file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"cannot read configuration file {path}: {error}") from None
    return parse_config(text, str(path), schema)


def parse_config(text: str, origin: str, schema: Schema) -> dict[str, dict[str, object]]:
    """The file's values, typed and range-checked; sections and keys it does not mention are absent."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"{origin}: not valid TOML: {error}") from None
    result: dict[str, dict[str, object]] = {}
    for section, table in document.items():
        if section not in schema:
            raise ConfigFileError(f"{origin}: unknown section [{section}] (known: {', '.join(sorted(schema))})")
        if not isinstance(table, dict):
            raise ConfigFileError(f"{origin}: {section} must be a table ([{section}]), not a single value")
        fields = schema[section]
        values: dict[str, object] = {}
        for key, value in table.items():
            if key not in fields:
                raise ConfigFileError(f"{origin}: unknown key [{section}] {key} (known: {', '.join(sorted(fields))})")
            values[key] = typed_value(f"{origin}: [{section}] {key}", value, fields[key])
        result[section] = values
    return result


def typed_value(name: str, value: object, type_name: str) -> object:
    """``value`` as the field's type, with the same ranges as the environment's values."""
    # bool is an int to Python, never a number of seconds or a port here.
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigFileError(f"{name} = {value!r}: expected true or false")
    if type_name == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return check_number(name, float(value), type_name)
        raise ConfigFileError(f"{name} = {value!r}: expected a number")
    if type_name == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return check_number(name, value, type_name)
        raise ConfigFileError(f"{name} = {value!r}: expected a whole number")
    if type_name == "Path":
        if isinstance(value, str) and value:
            return Path(value).expanduser()
        raise ConfigFileError(f"{name} = {value!r}: expected a file or directory name (a string)")
    if type_name.startswith("tuple[str"):
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ConfigFileError(f"{name} = {value!r}: expected a list of strings")
    if isinstance(value, str):
        return value
    raise ConfigFileError(f"{name} = {value!r}: expected a string")


def check_number(name: str, value: float, type_name: str) -> float:
    """Durations are positive, counts and ports are not negative (the rule the environment follows too)."""
    if type_name == "float" and value <= 0:
        raise ConfigFileError(f"{name} = {value!r}: must be positive")
    if type_name == "int" and value < 0:
        raise ConfigFileError(f"{name} = {value!r}: must not be negative")
    return value
