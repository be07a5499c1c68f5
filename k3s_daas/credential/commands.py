"""`k3s-daas token | token inspect | kubeconfig | verify-signature | join`: the user's side.

Imports stay light (no aiohttp, no kubernetes client): kubectl runs `token` before every request
it cannot serve from its in-process credential cache.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from k3s_daas.credential import execcredential, tokencache
from k3s_daas.credential.keyargs import KeySelection, add_key_arguments
from k3s_daas.credential.kubeconfig import read_ca, seal_kubeconfig
from k3s_daas.errors import UserError
from k3s_daas.sealtoken import (
    API_TOKEN,
    DEFAULT_LEEWAY_S,
    DEFAULT_MAX_LIFETIME_S,
    JOIN_REQUEST,
    TokenRejected,
    api_claims,
    is_cluster_id,
    is_node_name,
    sign,
    verify_token,
)
from k3s_daas.sealtoken.claims import JOIN_AUDIENCE_SUFFIX
from k3s_daas.settings import Settings
from k3s_daas.sui.crypto import AddressError, SignatureError, normalize_address, verify_personal_message

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

DEFAULT_LIFETIME_S = 600


def _cluster_id(text: str) -> str:
    if not is_cluster_id(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a cluster id: 1-63 of [a-z0-9.-], starting and ending with a letter or digit"
        )
    return text


def _object_id(text: str) -> str:
    try:
        return normalize_address(text)
    except AddressError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _node_name(text: str) -> str:
    if not is_node_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Kubernetes node name (lowercase DNS-1123 label)")
    return text


def _lifetime(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 2 * execcredential.REFRESH_MARGIN_S < value <= 3600:
        raise argparse.ArgumentTypeError(f"lifetime must be {2 * execcredential.REFRESH_MARGIN_S + 1}..3600 seconds")
    return value


def register(subparsers: _Subparsers) -> None:
    _register_token(subparsers)
    _register_kubeconfig(subparsers)
    _register_verify_signature(subparsers)
    _register_join(subparsers)


# ---- token ---------------------------------------------------------------------------------------


def _add_token_flags(parser: argparse.ArgumentParser, *, cluster_id_required: bool) -> None:
    parser.add_argument(
        "--cluster-id", type=_cluster_id, required=cluster_id_required, metavar="ID", help="the token's audience"
    )
    add_key_arguments(parser)
    parser.add_argument(
        "--seal-token", type=_object_id, default=None, metavar="0x...", help="which of your SealTokens to use"
    )
    parser.add_argument(
        "--lifetime",
        type=_lifetime,
        default=DEFAULT_LIFETIME_S,
        metavar="SECONDS",
        help="token lifetime (default %(default)s; the webhook's limit is 900 by default)",
    )
    parser.add_argument(
        "--cache", action="store_true", help="reuse a still-fresh token from the on-disk cache instead of re-signing"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR", help="cache location (implies --cache)")


def _register_token(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "token",
        help="kubectl exec credential plugin: sign a short-lived Seal token with your Sui key",
        description=(
            "Prints an ExecCredential (client.authentication.k8s.io/v1 or v1beta1, as KUBERNETES_EXEC_INFO "
            "asks) holding a Seal token signed with your Sui key. `token inspect TOKEN` verifies a token."
        ),
    )
    _add_token_flags(parser, cluster_id_required=False)
    parser.add_argument("--token-only", action="store_true", help="print the bare token, not an ExecCredential")
    parser.set_defaults(run=run_token)
    actions = parser.add_subparsers(dest="token_action", required=False, metavar="[inspect]")
    inspect = actions.add_parser(
        "inspect",
        help="verify a token offline and print its claims and signer",
        description="Verifies signature, format and expiry locally (no network); exits non-zero for any invalid token.",
    )
    inspect.add_argument("token", metavar="TOKEN", help="the token, or - to read it from standard input")
    inspect.add_argument(
        "--cluster-id",
        dest="inspect_cluster_id",
        type=_cluster_id,
        default=None,
        metavar="ID",
        help="also check the audience",
    )
    inspect.add_argument("--at", type=float, default=None, metavar="UNIX_SECONDS", help="verify as of this time")
    inspect.add_argument(
        "--max-lifetime", type=float, default=DEFAULT_MAX_LIFETIME_S, metavar="SECONDS", help="default %(default)s"
    )
    inspect.set_defaults(run=run_inspect)


def run_token(args: argparse.Namespace, settings: Settings) -> int:
    if args.cluster_id is None:
        raise UserError("--cluster-id is required: the id of the cluster the token is for")
    # The exec credential protocol speaks through the environment: read at this edge only.
    api_version = execcredential.requested_api_version(os.environ.get("KUBERNETES_EXEC_INFO"))
    keypair = KeySelection.from_args(args).load()
    cache_dir = args.cache_dir or (tokencache.default_cache_dir() if args.cache else None)
    now = time.time()
    token, expires_at = None, 0
    if cache_dir is not None:
        cached = tokencache.load(cache_dir, args.cluster_id, keypair.address, args.seal_token, now)
        if cached is not None:
            token, expires_at = cached.token, cached.expires_at
    if token is None:
        claims = api_claims(keypair.address, args.cluster_id, int(now), args.lifetime, seal_token=args.seal_token)
        token, expires_at = sign(keypair, claims), claims.expires_at
        if cache_dir is not None:
            tokencache.store(cache_dir, args.cluster_id, keypair.address, args.seal_token, token)
    if args.token_only:
        print(token)
    else:
        print(json.dumps(execcredential.exec_credential(api_version, token, expires_at)))
    return 0


def _read_token(argument: str) -> str:
    text = sys.stdin.read() if argument == "-" else argument
    return text.strip()


def run_inspect(args: argparse.Namespace, settings: Settings) -> int:
    token = _read_token(args.token)
    now = time.time() if args.at is None else args.at
    audience = args.inspect_cluster_id
    # A join request is recognized by its audience; verification then applies the join rules.
    profile = API_TOKEN
    try:
        unverified = json.loads(base64.urlsafe_b64decode(token.split(".")[2] + "=="))
        if isinstance(unverified, dict) and str(unverified.get("aud", "")).endswith(JOIN_AUDIENCE_SUFFIX):
            profile = JOIN_REQUEST
            audience = audience + JOIN_AUDIENCE_SUFFIX if audience else None
    except (IndexError, ValueError, binascii.Error):
        pass  # verification below names the problem
    try:
        verified = verify_token(
            token,
            audience=audience,
            now=now,
            profile=profile,
            leeway_s=DEFAULT_LEEWAY_S,
            max_lifetime_s=args.max_lifetime,
        )
    except TokenRejected as error:
        raise UserError(f"invalid token: {error}") from None
    report = {
        "valid": True,
        "kind": "join request" if profile is JOIN_REQUEST else "API token",
        "signer": {"address": verified.address, "scheme": verified.signer.scheme.label},
        "claims": verified.claims.to_json(),
        "expiresInSeconds": int(verified.claims.expires_at - now),
        "audienceChecked": audience is not None,
    }
    print(json.dumps(report, indent=2))
    return 0


# ---- kubeconfig ----------------------------------------------------------------------------------


def _register_kubeconfig(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "kubeconfig",
        help="write a kubeconfig whose user runs `k3s-daas token` with your key",
        description="Writes a kubeconfig for the cluster at --server whose user signs Seal tokens with your Sui key.",
    )
    parser.add_argument("--server", required=True, metavar="URL", help="the API server, https://HOST:PORT")
    parser.add_argument("--ca", required=True, type=Path, metavar="FILE", help="the API server's CA bundle (PEM)")
    _add_token_flags(parser, cluster_id_required=True)
    parser.add_argument("--output", type=Path, default=None, metavar="FILE", help="write here (mode 0600), not stdout")
    parser.add_argument(
        "--exec-command",
        default="k3s-daas",
        metavar="COMMAND",
        help="how kubectl starts the plugin (default %(default)s, found on PATH)",
    )
    parser.set_defaults(run=run_kubeconfig)


def run_kubeconfig(args: argparse.Namespace, settings: Settings) -> int:
    import yaml

    from k3s_daas.controlplane.kubeconfig import write_kubeconfig

    if not args.server.startswith("https://"):
        raise UserError(f"--server must be an https:// URL, got {args.server!r}")
    selection = KeySelection.from_args(args)
    # Fail now, not at the first kubectl call, when the key cannot be loaded.
    keypair = selection.load()
    token_args = selection.as_flags()
    if args.address is None:
        token_args += ["--address", keypair.address]
    if args.seal_token:
        token_args += ["--seal-token", args.seal_token]
    if args.lifetime != DEFAULT_LIFETIME_S:
        token_args += ["--lifetime", str(args.lifetime)]
    if args.cache_dir is not None:
        token_args += ["--cache-dir", str(args.cache_dir.expanduser().absolute())]
    elif args.cache:
        token_args.append("--cache")
    document = seal_kubeconfig(
        server=args.server,
        ca_pem=read_ca(args.ca),
        cluster_id=args.cluster_id,
        address=keypair.address,
        command=args.exec_command,
        token_args=token_args,
    )
    if args.output is None:
        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
    else:
        write_kubeconfig(args.output, document)
        print(f"wrote {args.output} (user sui:{keypair.address})", file=sys.stderr)
    return 0


# ---- verify-signature ----------------------------------------------------------------------------


def _register_verify_signature(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "verify-signature",
        help="check a Sui personal-message signature and print the signer",
        description=(
            "Prints the signer's address and scheme and exits 0 only for a valid Sui personal-message "
            "signature (from the given address, when --address is set)."
        ),
    )
    parser.add_argument("--message-b64", required=True, metavar="B64", help="the signed bytes, standard base64")
    parser.add_argument(
        "--signature", required=True, metavar="B64", help="Sui serialized signature (flag || sig || pubkey), base64"
    )
    parser.add_argument("--address", default=None, metavar="0x...", help="require this signer")
    parser.set_defaults(run=run_verify_signature)


def run_verify_signature(args: argparse.Namespace, settings: Settings) -> int:
    try:
        message = base64.b64decode(args.message_b64, validate=True)
    except (binascii.Error, ValueError):
        raise UserError("--message-b64 is not valid standard base64") from None
    signature = args.signature.strip()
    if "-" in signature or "_" in signature:  # base64url from a JWS segment: accept it too
        signature = signature.replace("-", "+").replace("_", "/")
        signature += "=" * (-len(signature) % 4)
    if args.address is not None:
        try:
            normalize_address(args.address)
        except AddressError as error:
            raise UserError(f"--address: {error}") from None
    try:
        signer = verify_personal_message(message, signature, args.address)
    except SignatureError as error:
        raise UserError(f"invalid signature: {error}") from None
    print(f"{signer.address} {signer.scheme.label}")
    return 0


# ---- join ----------------------------------------------------------------------------------------


def _register_join(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "join",
        help="prove your Sui key to the webhook and get your node's k3s join token",
        description=(
            "Signs a short-lived, single-use join request for --node-name, sends it to the webhook's /join "
            "and prints the `k3s agent` command line to run (only the token with --token-only)."
        ),
    )
    parser.add_argument("--url", required=True, metavar="URL", help="the webhook, https://HOST:PORT")
    add_key_arguments(parser)
    parser.add_argument("--node-name", required=True, type=_node_name, metavar="NAME", help="the staked node")
    parser.add_argument(
        "--ca", type=Path, default=None, metavar="FILE", help="CA bundle that signed the webhook's certificate"
    )
    parser.add_argument("--cluster-id", type=_cluster_id, default=None, metavar="ID", help="refuse any other cluster")
    parser.add_argument("--server", default=None, metavar="URL", help="k3s server URL for the agent command line")
    parser.add_argument("--token-only", action="store_true", help="print only the join token")
    parser.set_defaults(run=run_join)


def run_join(args: argparse.Namespace, settings: Settings) -> int:
    keypair = KeySelection.from_args(args).load()
    # Imported here: urllib.request and ssl cost the exec plugin ~50 ms on every kubectl run.
    from k3s_daas.credential import joinclient

    result = joinclient.join(
        args.url, keypair, args.node_name, ca_file=args.ca, cluster_id=args.cluster_id, server=args.server
    )
    print(result.token if args.token_only else result.agent_command())
    return 0
