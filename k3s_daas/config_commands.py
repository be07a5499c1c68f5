"""`k3s-daas config show`: the effective configuration, where each value came from, secrets redacted.

The TOML it prints is itself a valid configuration file (each value's source in a comment after it),
so ``k3s-daas config show > k3s-daas.toml`` starts one. Redaction: fields marked secret in
k3s_daas.settings print as ``<redacted>``; in any URL, a password and every query value are
redacted too (an API key in a chain URL is a credential). File names are shown: they are not secrets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from k3s_daas.settings import LoadedSettings, Settings

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

REDACTED: Final = "<redacted>"

Value = str | int | float | bool | list[str]


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show the effective configuration (defaults < --config file < K3S_DAAS_* env < flags)",
        description="Configuration: a TOML file, K3S_DAAS_* variables and flags (docs/configuration.md).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print every setting with its source; secrets redacted",
        description="Prints the settings the other commands would start with (before their own flags).",
    )
    show.add_argument("--format", choices=("toml", "json"), default="toml", help="default: %(default)s")
    show.set_defaults(run=run_show)


def redact_url(text: str) -> str:
    """``text`` with a URL's password and query values replaced; anything else unchanged."""
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{REDACTED}@{host}"
    query = parts.query
    if query:
        query = urlencode([(key, REDACTED) for key, _ in parse_qsl(query, keep_blank_values=True)], safe="<>")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def effective(settings: Settings) -> dict[str, dict[str, Value]]:
    """Section -> field -> printable value, secrets redacted."""
    result: dict[str, dict[str, Value]] = {}
    for section_field in dataclasses.fields(settings):
        section = getattr(settings, section_field.name)
        values: dict[str, Value] = {}
        for item in dataclasses.fields(section):
            value = getattr(section, item.name)
            if item.metadata.get("secret"):
                values[item.name] = REDACTED if value else ""
            elif isinstance(value, Path):
                values[item.name] = str(value)
            elif isinstance(value, tuple):
                values[item.name] = [str(part) for part in value]
            elif isinstance(value, str):
                values[item.name] = redact_url(value)
            else:
                values[item.name] = value
        result[section_field.name] = values
    return result


def _toml_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(item) for item in value) + "]"
    # JSON's string escapes are all valid in a TOML basic string.
    return json.dumps(value)


def render_toml(loaded: LoadedSettings) -> str:
    lines: list[str] = []
    for section, values in effective(loaded.settings).items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}  # {loaded.sources.get(f'{section}.{key}', 'default')}")
    return "\n".join(lines) + "\n"


def render_json(loaded: LoadedSettings) -> str:
    document = {"settings": effective(loaded.settings), "sources": dict(sorted(loaded.sources.items()))}
    return json.dumps(document, indent=2) + "\n"


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    from k3s_daas.cli import load_settings

    # Loaded again (cheap, and identical to ``settings``) to know where each value came from.
    loaded = load_settings(args, os.environ)
    print(render_json(loaded) if args.format == "json" else render_toml(loaded), end="")
    return 0
