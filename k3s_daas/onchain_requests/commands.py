"""`k3s-daas request METHOD PATH`: a Kubernetes API request through the chain (on-chain request mode).

It signs ``k8s_gateway::submit_request`` with the user's Sui key, waits for the enclave-signed
response, verifies it and prints it as kubectl would; ``k3s-daas request verify ID`` verifies a
stored response again (docs/onchain-requests.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from k3s_daas.credential.keyargs import KeySelection, add_key_arguments
from k3s_daas.errors import UserError
from k3s_daas.settings import Settings

if TYPE_CHECKING:
    from k3s_daas.onchain_requests.client import Answer

    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
VERIFY: Final = "verify"


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "request",
        help="a Kubernetes API request through the chain, answered by the enclave (on-chain request mode)",
        description=(
            "k3s-daas request METHOD PATH [--file F]: submit the request on chain, wait for the enclave-signed "
            "response, verify it and print it. k3s-daas request verify REQUEST_ID: verify a stored response."
        ),
    )
    parser.add_argument("method", metavar="METHOD", help=f"{', '.join(METHODS)}, or {VERIFY}")
    parser.add_argument(
        "path", metavar="PATH", help="an API path, e.g. /api/v1/namespaces (with verify: the request id)"
    )
    parser.add_argument(
        "-f", "--file", type=Path, default=None, metavar="F", help="the payload (JSON or YAML; - for stdin)"
    )
    parser.add_argument("-o", "--output", choices=("json", "yaml"), default="json", help="default: %(default)s")
    parser.add_argument(
        "--timeout", type=float, default=None, metavar="S", help="wait at most S seconds (default: settings)"
    )
    add_key_arguments(parser)
    parser.set_defaults(run=run)


def read_payload(path: Path | None) -> str:
    """The payload as JSON text: a JSON file as it is, a YAML file converted (kubectl accepts both)."""
    if path is None:
        return ""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    try:
        json.loads(text)
        return text
    except ValueError:
        pass
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UserError(f"{path} is neither JSON nor YAML: {error}") from None
    if not isinstance(document, dict | list):
        raise UserError(f"{path} holds no object")
    return json.dumps(document, separators=(",", ":"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    method = args.method.upper() if args.method != VERIFY else VERIFY
    if method != VERIFY and method not in METHODS:
        raise UserError(f"method {args.method!r}: use one of {', '.join(METHODS)} (or `request verify ID`)")
    if method == VERIFY and not args.path.isdigit():
        raise UserError(f"request verify takes a request id (a number), not {args.path!r}")
    payload = read_payload(args.file)
    selection = KeySelection.from_args(args)
    key = None if method == VERIFY and _no_key_flags(selection) else selection.load()
    timeout = args.timeout if args.timeout is not None else settings.requests.wait_timeout_s
    answer = asyncio.run(_run(settings, method, args.path, payload, key, timeout))
    return _print(answer, args.output, method == VERIFY)


def _no_key_flags(selection: KeySelection) -> bool:
    return not any((selection.keystore, selection.address, selection.suiprivkey_file, selection.client_config))


async def _run(settings: Settings, method: str, path: str, payload: str, key: object, wait_s: float) -> Answer:
    from k3s_daas.chain import ChainClient, ChainError
    from k3s_daas.onchain_requests import client
    from k3s_daas.sui.crypto import Keypair

    assert key is None or isinstance(key, Keypair)
    # pysui's client introspects the schema when built (about a second): build it while the
    # transaction is on its way, not after.
    connecting = asyncio.ensure_future(ChainClient.connect(settings.chain))
    try:
        if method == VERIFY:
            request_id = int(path)
        else:
            assert key is not None
            request_id = await client.submit(settings.chain.url, key, method, path, payload, wait_s)
        chain = await connecting
    except ChainError as error:
        raise UserError(f"cannot reach the chain at {settings.chain.url}: {error}") from None
    except BaseException:
        connecting.cancel()
        if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
            await connecting.result().close()
        raise
    async with chain:
        if method == VERIFY:
            response = await chain.response(request_id)
            if response is None:
                raise UserError(f"request {request_id} has no stored response (yet)")
        else:
            response = await client.wait_for_response(chain, request_id, wait_s)
        return await client.answer(chain, response, settings.requests, settings.webhook.cluster_id, key)


def _print(answer: Answer, output: str, verifying: bool) -> int:
    from k3s_daas.onchain_requests.output import error_line, render

    response = answer.response
    if verifying:
        print(
            f"request {response.request_id}: status {response.status_code}, body sha256 {response.body_digest.hex()} "
            f"({'on chain' if response.body else 'off chain'}), signed by enclave {answer.enclave.object_id} "
            f"at {response.signed_at_ms} ms: verified",
            file=sys.stderr,
        )
    if 200 <= response.status_code < 300:
        sys.stdout.write(render(answer.body, output))
        return 0
    print(error_line(response.status_code, answer.body), file=sys.stderr)
    return 1
