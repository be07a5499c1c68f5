"""`k3s-daas localnet ...`: run the embedded chain, and call its entry functions.

``serve`` runs the chain; every other action signs one entry-function call with the sender's
Sui key (``--keystore``/``--address``, ``--suiprivkey`` or ``--client-config``) and prints one
JSON object shaped like the essentials of ``sui client call --json`` (``digest``,
``objectChanges``, ``events``). A failure (an abort, an unknown object, a bad key) prints one
line and exits non-zero; nothing on chain changes.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from k3s_daas import logs
from k3s_daas.enclave.errors import MalformedAttestation
from k3s_daas.enclave.response import AttestationResponse
from k3s_daas.errors import UserError
from k3s_daas.localnet.client import LocalnetClient, LocalnetError
from k3s_daas.localnet.clock import wall_clock_ms
from k3s_daas.localnet.enclave import SYSTEM_SENDER
from k3s_daas.localnet.move import MoveTypeError, canonical_address
from k3s_daas.localnet.package import ENCLAVE, GATEWAY, STAKING
from k3s_daas.localnet.server import LocalnetApp
from k3s_daas.localnet.store import Store
from k3s_daas.onchain_requests.development import register_development_enclave
from k3s_daas.settings import Settings
from k3s_daas.stake import Role
from k3s_daas.sui.crypto import Keypair
from k3s_daas.sui.keystore import load_key

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "localnet",
        help="the embedded Sui chain: serve it, or call the package's entry functions on it",
        description="A local chain serving Sui's GraphQL, with the K3s-DaaS Move package published.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _register_serve(actions)
    info = actions.add_parser("info", help="print the chain id, package id and shared object ids")
    _add_url(info)
    info.set_defaults(run=run_info)

    stake = _call_parser(actions, "stake", "staking::stake: lock SUI (minted on localnet) under a role")
    stake.add_argument("--role", required=True, choices=[r.label for r in Role])
    stake.add_argument("--amount-mist", required=True, type=_u64, metavar="N")
    stake.add_argument("--node-name", default="", metavar="NAME", help="required for --role node")
    stake.set_defaults(run=run_stake)

    unstake = _call_parser(actions, "request-unstake", "staking::request_unstake: start the cooldown")
    unstake.add_argument("--stake-record", required=True, type=_object_id, metavar="ID")
    unstake.set_defaults(run=run_request_unstake)

    withdraw = _call_parser(actions, "withdraw", "staking::withdraw: take the stake back after the cooldown")
    withdraw.add_argument("--stake-record", required=True, type=_object_id, metavar="ID")
    withdraw.set_defaults(run=run_withdraw)

    slash = _call_parser(actions, "slash", "staking::slash (needs the AdminCap): take MIST from a stake")
    slash.add_argument("--stake-record", required=True, type=_object_id, metavar="ID")
    slash.add_argument("--amount-mist", required=True, type=_u64, metavar="N")
    slash.add_argument("--reason", required=True, metavar="TEXT")
    slash.set_defaults(run=run_slash)

    cooldown = _call_parser(actions, "set-cooldown", "staking::set_cooldown (needs the AdminCap)")
    cooldown.add_argument("--cooldown-ms", required=True, type=_u64, metavar="N")
    cooldown.set_defaults(run=run_set_cooldown)

    issue = _call_parser(actions, "issue-token", "k8s_gateway::issue_seal_token: a Seal token backed by a stake")
    issue.add_argument("--stake-record", required=True, type=_object_id, metavar="ID")
    issue.add_argument(
        "--permission", required=True, action="append", metavar="RESOURCE:VERB", help="repeatable, e.g. pods:get"
    )
    issue.add_argument("--expires-in-ms", required=True, type=_u64, metavar="N")
    issue.set_defaults(run=run_issue_token)

    revoke = _call_parser(
        actions,
        "revoke-token",
        "revoke a Seal token: as its owner, or with the AdminCap (k8s_gateway::admin_revoke_seal_token)",
    )
    revoke.add_argument("--token", required=True, type=_object_id, metavar="ID")
    revoke.set_defaults(run=run_revoke_token)

    request = _call_parser(actions, "submit-request", "k8s_gateway::submit_request: an on-chain Kubernetes request")
    request.add_argument("--method", required=True, metavar="M", help="GET, POST, PUT, PATCH or DELETE")
    request.add_argument("--path", required=True, metavar="P", help="starts with /")
    request.add_argument("--payload", default="", metavar="TEXT")
    request.set_defaults(run=run_submit_request)

    response = _call_parser(
        actions,
        "store-response",
        "k8s_gateway::store_k8s_response: relay an enclave-signed response (any sender; the signature counts)",
    )
    response.add_argument("--request-id", required=True, type=_u64, metavar="N")
    response.add_argument("--status-code", required=True, type=_u16, metavar="N")
    response.add_argument("--body", default="", metavar="TEXT", help="the body kept on chain (default: none)")
    response.add_argument("--body-digest", required=True, type=_hex, metavar="HEX", help="SHA-256 of the body")
    response.add_argument("--enclave", required=True, type=_object_id, metavar="ID", help="the signing Enclave")
    response.add_argument("--signed-at-ms", required=True, type=_u64, metavar="N", help="the signed timestamp")
    response.add_argument("--signature", required=True, type=_hex, metavar="HEX", help="the Ed25519 signature")
    response.set_defaults(run=run_store_response)

    _register_enclave_calls(actions)

    clock = actions.add_parser(
        "advance-clock", help="move the chain clock forward (server needs --allow-clock-control)"
    )
    _add_url(clock)
    clock.add_argument("--ms", required=True, type=_u64, metavar="N")
    clock.set_defaults(run=run_advance_clock)


def _register_enclave_calls(actions: _Subparsers) -> None:
    pcrs = _call_parser(
        actions, "update-pcrs", "enclave::update_pcrs (needs the AdminCap): the expected enclave image's PCR0-2"
    )
    for index, what in enumerate(("image", "kernel", "application")):
        pcrs.add_argument(
            f"--pcr{index}", required=True, type=_hex, metavar="HEX", help=f"PCR{index} ({what}), 48 bytes (SHA-384)"
        )
    pcrs.set_defaults(run=run_update_pcrs)

    register = _call_parser(
        actions,
        "register-enclave",
        "enclave::register_enclave: register the enclave key an AWS Nitro attestation document binds",
    )
    register.add_argument(
        "--document-file",
        required=True,
        type=Path,
        metavar="FILE",
        help="the attestation document: raw COSE_Sign1 bytes, their hex, or a webhook's /attestation JSON answer",
    )
    register.set_defaults(run=run_register_enclave)

    development = actions.add_parser(
        "register-development-enclave",
        help="register an enclave key without an attestation document (localnet only: development mode)",
        description=(
            "enclave::register_for_testing as a localnet system call on the chain's database: registers the key "
            "of a webhook in development mode (no TEE), under the configured PCRs. A real network has no such call."
        ),
    )
    development.add_argument("--db", default=None, type=Path, metavar="FILE", help="SQLite state (default: settings)")
    development.add_argument(
        "--public-key", required=True, type=_hex, metavar="HEX", help="the enclave key (/attestation's public_key)"
    )
    development.add_argument("--owner", default=None, metavar="0x...", help="recorded as the registrant (default 0x0)")
    development.set_defaults(run=run_register_development_enclave)

    record = _call_parser(
        actions, "record-message", "enclave::record_message: record a message a registered enclave signed"
    )
    record.add_argument("--enclave", required=True, type=_object_id, metavar="ID", help="the Enclave object")
    record.add_argument("--intent", required=True, type=_u8, metavar="N", help="the payload type (u8)")
    record.add_argument("--timestamp-ms", required=True, type=_u64, metavar="N")
    record.add_argument("--payload", required=True, type=_hex, metavar="HEX", help="the payload's BCS bytes")
    record.add_argument("--signature", required=True, type=_hex, metavar="HEX", help="the Ed25519 signature")
    record.set_defaults(run=run_record_message)


def _register_serve(actions: _Subparsers) -> None:
    serve = actions.add_parser("serve", help="run the chain: Sui GraphQL at http://HOST:PORT/graphql")
    serve.add_argument("--host", default=None, help="listen address (default: settings, 127.0.0.1)")
    serve.add_argument("--port", default=None, type=int, help="listen port (default: settings, 9125)")
    serve.add_argument("--db", default=None, type=Path, metavar="FILE", help="SQLite state (default: settings)")
    serve.add_argument(
        "--admin", default=None, metavar="ADDRESS", help="publisher receiving the AdminCap (needed on first start)"
    )
    serve.add_argument(
        "--clock-offset-ms",
        default=0,
        type=_u64,
        metavar="N",
        help="run the chain clock at least N ms ahead of the wall clock (dev only; it never moves back)",
    )
    serve.add_argument(
        "--allow-clock-control",
        action="store_true",
        help="enable POST /localnet/v1/clock (`localnet advance-clock`), for tests of cooldowns and expiry",
    )
    serve.set_defaults(run=run_serve)


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="the localnet (default: the chain URL setting)")


def _call_parser(actions: _Subparsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=help_text, description=help_text)
    _add_url(parser)
    keys = parser.add_argument_group("sender (a Sui key)")
    keys.add_argument("--keystore", type=Path, default=None, metavar="FILE", help="a Sui CLI sui.keystore")
    keys.add_argument("--address", default=None, metavar="0x...", help="which key of the keystore")
    keys.add_argument("--suiprivkey", default=None, metavar="suiprivkey1...", help="a bech32 private key")
    keys.add_argument(
        "--client-config", type=Path, default=None, metavar="FILE", help="a Sui client.yaml (keystore, active address)"
    )
    return parser


def _object_id(text: str) -> str:
    try:
        return canonical_address(text)
    except MoveTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Sui object id (0x followed by hex digits)") from None


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hex") from None


def _u8(text: str) -> int:
    value = _u64(text)
    if value > 255:
        raise argparse.ArgumentTypeError(f"{text} is out of range (0 to 255)")
    return value


def _u16(text: str) -> int:
    value = _u64(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is out of range (0 to 65535)")
    return value


def _u64(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"{text} is out of range (0 to 2^64 - 1)")
    return value


# --- serve ----------------------------------------------------------------------------------


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    local = settings.localnet
    host: str = args.host or local.host
    port: int = local.port if args.port is None else args.port
    store = Store(args.db or local.db_path)
    info = store.initialise(args.admin, wall_clock_ms())
    if args.clock_offset_ms:
        store.advance_clock(max(0, args.clock_offset_ms - store.clock_offset_ms()))
    app = LocalnetApp(store, allow_clock_control=args.allow_clock_control)
    logs.configure(settings.log)
    print(
        f"localnet: chain {info.chain_identifier}, package {info.deployment.package.package_id}, "
        f"admin {info.deployment.admin}, state {store.path}\n"
        f"localnet: Sui GraphQL at http://{host}:{port}/graphql",
        file=sys.stderr,
        flush=True,
    )
    try:
        web.run_app(app.build(), host=host, port=port, print=None, access_log=None)
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return 0


# --- calls ----------------------------------------------------------------------------------


def _client(args: argparse.Namespace, settings: Settings) -> LocalnetClient:
    return LocalnetClient(args.url or settings.chain.url, timeout_s=max(settings.chain.timeout_s, 10.0))


def _sender(args: argparse.Namespace) -> Keypair:
    return load_key(args.keystore, args.address, args.suiprivkey, args.client_config)


def _print(report: dict[str, Any]) -> int:
    print(json.dumps(report, indent=2))
    return 0


def _admin_cap(client: LocalnetClient, sender: Keypair, what: str) -> str:
    cap = client.admin_cap(sender.address)
    if cap is None:
        raise LocalnetError(f"{what} needs the package's AdminCap, and {sender.address} holds none")
    return cap


def run_info(args: argparse.Namespace, settings: Settings) -> int:
    return _print(dict(_client(args, settings).info()))


def run_stake(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    arguments = {"amount": args.amount_mist, "role": int(Role.from_label(args.role)), "node_name": args.node_name}
    return _print(_client(args, settings).call(sender, STAKING, "stake", arguments))


def run_request_unstake(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    return _print(_client(args, settings).call(sender, STAKING, "request_unstake", {"record": args.stake_record}))


def run_withdraw(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    return _print(_client(args, settings).call(sender, STAKING, "withdraw", {"record": args.stake_record}))


def run_slash(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    client = _client(args, settings)
    arguments = {
        "cap": _admin_cap(client, sender, "slash"),
        "record_id": args.stake_record,
        "amount": args.amount_mist,
        "reason": args.reason,
    }
    return _print(client.call(sender, STAKING, "slash", arguments))


def run_set_cooldown(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    client = _client(args, settings)
    arguments = {"cap": _admin_cap(client, sender, "set-cooldown"), "cooldown_ms": args.cooldown_ms}
    return _print(client.call(sender, STAKING, "set_cooldown", arguments))


def run_issue_token(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    arguments = {"record": args.stake_record, "permissions": list(args.permission), "expires_in_ms": args.expires_in_ms}
    return _print(_client(args, settings).call(sender, GATEWAY, "issue_seal_token", arguments))


def run_revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    """The owner's revocation, or the admin's when the sender holds the AdminCap and is not the owner."""
    sender = _sender(args)
    client = _client(args, settings)
    owner = client.owner_of(args.token)
    cap = None if owner == sender.address else client.admin_cap(sender.address)
    if cap is not None:
        arguments: dict[str, object] = {"cap": cap, "token_id": args.token}
        return _print(client.call(sender, GATEWAY, "admin_revoke_seal_token", arguments))
    # Not the owner and no AdminCap: the chain answers (ENotAuthorized or EUnknownToken).
    return _print(client.call(sender, GATEWAY, "revoke_seal_token", {"token_id": args.token}))


def run_submit_request(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    arguments = {"method": args.method, "path": args.path, "payload": args.payload}
    return _print(_client(args, settings).call(sender, GATEWAY, "submit_request", arguments))


def run_store_response(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    arguments = {
        "enclave": args.enclave,
        "request_id": args.request_id,
        "status_code": args.status_code,
        "body_digest": _b64(args.body_digest),
        "body": args.body,
        "signed_at_ms": args.signed_at_ms,
        "signature": _b64(args.signature),
    }
    return _print(_client(args, settings).call(sender, GATEWAY, "store_k8s_response", arguments))


def run_register_development_enclave(args: argparse.Namespace, settings: Settings) -> int:
    owner = canonical_address(args.owner) if args.owner else SYSTEM_SENDER
    registered = register_development_enclave(args.db or settings.localnet.db_path, args.public_key, owner)
    return _print({"digest": registered.digest, "enclaveId": registered.enclave_id})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def run_update_pcrs(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    client = _client(args, settings)
    arguments = {"cap": _admin_cap(client, sender, "update-pcrs")}
    arguments |= {f"pcr{index}": _b64(getattr(args, f"pcr{index}")) for index in range(3)}
    return _print(client.call(sender, ENCLAVE, "update_pcrs", arguments))


def run_register_enclave(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    document = read_document_file(args.document_file)
    return _print(_client(args, settings).call(sender, ENCLAVE, "register_enclave", {"document": _b64(document)}))


def run_record_message(args: argparse.Namespace, settings: Settings) -> int:
    sender = _sender(args)
    arguments = {
        "enclave": args.enclave,
        "intent": args.intent,
        "timestamp_ms": args.timestamp_ms,
        "payload": _b64(args.payload),
        "signature": _b64(args.signature),
    }
    return _print(_client(args, settings).call(sender, ENCLAVE, "record_message", arguments))


def read_document_file(path: Path) -> bytes:
    """An attestation document from a file: raw bytes, their hex, or a JSON ``/attestation`` answer."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    text = data.strip()
    if text.startswith(b"{"):
        try:
            return AttestationResponse.from_json_bytes(text).document
        except MalformedAttestation as error:
            raise UserError(f"{path}: {error}") from None
    try:
        # A CBOR COSE_Sign1 starts with byte 0x84 or 0xd2, never with an ASCII hex digit.
        return bytes.fromhex(text.decode("ascii").removeprefix("0x"))
    except (UnicodeDecodeError, ValueError):
        return data


def run_advance_clock(args: argparse.Namespace, settings: Settings) -> int:
    return _print(_client(args, settings).advance_clock(args.ms))
