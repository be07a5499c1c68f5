"""`k3s-daas attest verify`: is a running webhook the enclave it should be?

The command sends a fresh nonce to ``URL/attestation``, then checks the document it gets back:
signed by the NSM, chained to the AWS Nitro root (or, with ``--allow-dev``, to the development
root), fresh, carrying the nonce, with the expected PCRs, binding an Ed25519 key. Then it checks
the chain (``registration``): an ``enclave::Enclave`` holds that key under the ``EnclaveConfig``'s
current version, whose PCR0-2 are the expected ones. A development document can never be
registered on Sui, so with ``--allow-dev`` that check is skipped, and the output says so. It
prints what was verified and exits 0, or prints why not and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k3s_daas.chain.errors import ChainError
from k3s_daas.enclave.attestation import DEFAULT_MAX_AGE_MS, Policy, VerifiedAttestation
from k3s_daas.enclave.document import MAX_PCR_INDEX, PCR_LENGTHS
from k3s_daas.enclave.errors import AttestationError
from k3s_daas.enclave.registration import CONFIGURED_PCRS, Registration, read_registration
from k3s_daas.enclave.remote import FetchError, fetch_attestation, verify_response
from k3s_daas.settings import ChainSettings, Settings

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

NONCE_BYTES = 32
ONCHAIN_SKIPPED_DEV = (
    "skipped: this is a development attestation, which can never be registered on Sui "
    "(load_nitro_attestation trusts only the AWS Nitro root)"
)
ONCHAIN_NOT_CHECKED = "not checked (--no-chain-check)"


def pcr_argument(text: str) -> tuple[int, bytes]:
    """``N=HEX``: PCR index 0..31 and its 32/48/64-byte value (SHA-384 PCRs are 96 hex digits)."""
    index_text, separator, value_text = text.partition("=")
    if not separator or not index_text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected N=HEX, got {text!r}")
    index = int(index_text)
    if index > MAX_PCR_INDEX:
        raise argparse.ArgumentTypeError(f"PCR index must be 0..{MAX_PCR_INDEX}, got {index}")
    try:
        value = bytes.fromhex(value_text.strip().removeprefix("0x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"PCR{index} value is not hex") from None
    if len(value) not in PCR_LENGTHS:
        raise argparse.ArgumentTypeError(f"PCR{index} must be 32, 48 or 64 bytes, got {len(value)}")
    return index, value


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "attest",
        help="check the attestation of a running webhook (AWS Nitro enclave)",
        description="Verify the enclave attestation a K3s-DaaS webhook serves at /attestation.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="fetch URL/attestation with a fresh nonce and verify it against expected PCRs",
        description=(
            "Fetch the webhook's attestation document with a fresh nonce and verify it: COSE signature, "
            "certificate chain to the AWS Nitro Enclaves root G1, freshness, nonce, PCRs and the bound "
            "Ed25519 key; then check on chain that an enclave::Enclave holds that key under the current "
            "EnclaveConfig version, whose PCR0-2 are the expected ones."
        ),
    )
    verify.add_argument("--url", required=True, help="the webhook's base URL (or its /attestation URL)")
    verify.add_argument(
        "--pcr",
        action="append",
        type=pcr_argument,
        default=[],
        metavar="N=HEX",
        help="expected PCR value (repeatable); PCR0-2 identify the enclave image",
    )
    verify.add_argument(
        "--no-pcr-check", action="store_true", help="accept any enclave image (only to inspect a document)"
    )
    verify.add_argument(
        "--allow-dev",
        action="store_true",
        help="accept a development attestation (no TEE behind it, proves nothing about the code)",
    )
    verify.add_argument(
        "--max-age",
        type=float,
        default=DEFAULT_MAX_AGE_MS / 1000,
        metavar="SECONDS",
        help="oldest acceptable document (default: %(default)s)",
    )
    verify.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="default: %(default)s")
    verify.add_argument("--cacert", type=Path, help="CA bundle for an https URL with a private CA")
    verify.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    chain = verify.add_argument_group("on-chain registration")
    chain.add_argument("--chain-url", default=None, help="Sui GraphQL endpoint (default: the chain URL setting)")
    chain.add_argument(
        "--package-id", default=None, help="the K3s-DaaS Move package (default: the setting; a localnet names its own)"
    )
    chain.add_argument(
        "--no-chain-check", action="store_true", help="do not check the registration (only to inspect a document)"
    )
    verify.set_defaults(run=run_verify)


@dataclasses.dataclass(frozen=True, slots=True)
class OnChain:
    """What the command says about the registration: a status, and the registration when found."""

    status: str
    """``registered``, ``skipped_dev_mode`` or ``not_checked``."""
    message: str
    registration: Registration | None = None


def _chain_settings(args: argparse.Namespace, settings: Settings) -> ChainSettings:
    chain = settings.chain
    return dataclasses.replace(
        chain,
        url=args.chain_url or chain.url,
        package_id=chain.package_id if args.package_id is None else args.package_id,
    )


def _onchain(args: argparse.Namespace, settings: Settings, verified: VerifiedAttestation) -> OnChain:
    if verified.dev_mode:
        # Only reached with --allow-dev: the verifier refuses development documents otherwise.
        return OnChain("skipped_dev_mode", ONCHAIN_SKIPPED_DEV)
    if args.no_chain_check:
        return OnChain("not_checked", ONCHAIN_NOT_CHECKED)
    assert verified.public_key is not None  # the policy requires a bound key
    # The document's PCR0-2 passed every --pcr given, so the chain must expect exactly these.
    expected = {index: value for index, value in verified.pcrs.items() if index in CONFIGURED_PCRS}
    registration = asyncio.run(read_registration(_chain_settings(args, settings), verified.public_key, expected))
    return OnChain("registered", f"verified: {registration.describe()}", registration)


def _text_report(verified: VerifiedAttestation, checked: list[int], now_ms: int, onchain: OnChain) -> list[str]:
    document = verified.document
    when = dt.datetime.fromtimestamp(document.timestamp_ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
    lines = []
    if verified.dev_mode:
        lines.append("WARNING: DEVELOPMENT MODE: no TEE behind this document; it attests nothing about the code")
    lines += [
        f"attestation verified: chained to {verified.root.name} (sha256 {verified.root.sha256})",
        f"  module_id   {document.module_id}",
        f"  timestamp   {when} ({(now_ms - document.timestamp_ms) / 1000:.1f} s old)",
        f"  public key  {(verified.public_key or b'').hex()} (Ed25519, the enclave key)",
        "  nonce       matches the one sent",
    ]
    for index in sorted(document.pcrs):
        mark = "expected" if index in checked else "not checked"
        lines.append(f"  PCR{index:<2}       {document.pcrs[index].hex()} ({mark})")
    lines.append(f"on-chain registration: {onchain.message}")
    return lines


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    expected = dict(args.pcr)
    if not expected and not args.no_pcr_check:
        print("k3s-daas: error: give the expected PCRs (--pcr N=HEX) or --no-pcr-check", file=sys.stderr)
        return 2
    nonce = os.urandom(NONCE_BYTES)
    policy = Policy(expected_pcrs=expected, max_age_ms=int(args.max_age * 1000), nonce=nonce, allow_dev=args.allow_dev)
    now_ms = time.time_ns() // 1_000_000
    try:
        response = fetch_attestation(args.url, nonce=nonce, timeout_s=args.timeout, cafile=args.cacert)
        verified = verify_response(response, policy, now_ms=now_ms)
        onchain = _onchain(args, settings, verified)
    except (AttestationError, FetchError, ChainError) as error:
        if args.json:
            reason = _reason(error)
            print(json.dumps({"verified": False, "reason": reason, "error": str(error)}))
            return 1
        raise
    if args.json:
        report: dict[str, Any] = {"verified": True, **verified.to_json()}
        report["pcrs_checked"] = sorted(expected)
        report["onchain"] = onchain.status
        if onchain.registration is not None:
            report["registration"] = onchain.registration.to_json()
        print(json.dumps(report))
    else:
        print("\n".join(_text_report(verified, sorted(expected), now_ms, onchain)))
    return 0


def _reason(error: AttestationError | FetchError | ChainError) -> str:
    if isinstance(error, AttestationError):
        return error.reason
    if isinstance(error, ChainError):
        return "chain_error"
    return "fetch_failed"
