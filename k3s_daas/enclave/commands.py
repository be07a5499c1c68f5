"""`k3s-daas attest verify`: is a running webhook the enclave it should be?

The command sends a fresh nonce to ``URL/attestation``, then checks the document it gets back:
signed by the NSM, chained to the AWS Nitro root (or, with ``--allow-dev``, to the development
root), fresh, carrying the nonce, with the expected PCRs, binding an Ed25519 key. It prints what
was verified and exits 0, or prints why not and exits 1.

Not checked yet: that the bound key is the one registered on chain (``enclave::Enclave`` with the
current ``EnclaveConfig`` version). The output says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k3s_daas.enclave.attestation import DEFAULT_MAX_AGE_MS, Policy, VerifiedAttestation
from k3s_daas.enclave.document import MAX_PCR_INDEX, PCR_LENGTHS
from k3s_daas.enclave.errors import AttestationError
from k3s_daas.enclave.remote import FetchError, fetch_attestation, verify_response
from k3s_daas.settings import Settings

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

NONCE_BYTES = 32
ONCHAIN_NOT_CHECKED = "not checked: the on-chain registration check is not implemented yet"


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
            f"Ed25519 key. On-chain registration: {ONCHAIN_NOT_CHECKED}."
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
    verify.set_defaults(run=run_verify)


def _text_report(verified: VerifiedAttestation, checked: list[int], now_ms: int) -> list[str]:
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
    lines.append(f"on-chain registration: {ONCHAIN_NOT_CHECKED}")
    return lines


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    del settings  # the on-chain check will read the chain settings
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
    except (AttestationError, FetchError) as error:
        if args.json:
            reason = error.reason if isinstance(error, AttestationError) else "fetch_failed"
            print(json.dumps({"verified": False, "reason": reason, "error": str(error)}))
            return 1
        raise
    if args.json:
        report: dict[str, Any] = {"verified": True, **verified.to_json()}
        report["pcrs_checked"] = sorted(expected)
        report["onchain"] = "not_checked"
        print(json.dumps(report))
    else:
        print("\n".join(_text_report(verified, sorted(expected), now_ms)))
    return 0
