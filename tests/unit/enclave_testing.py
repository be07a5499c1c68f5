"""Helpers for the enclave tests: recorded documents, and documents built under a test root.

``TestPki`` builds a chain shaped like AWS's (root -> regional -> zonal -> instance -> document
certificate, path lengths 2/1/0) under a throwaway root, so every tamper case can be made and the
verifier is shown to refuse it for the right reason. Its root is passed as ``Policy.roots``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from k3s_daas.enclave.attestation import Policy
from k3s_daas.enclave.cose import CoseSign1, sign_es384
from k3s_daas.enclave.document import AttestationDocument
from k3s_daas.enclave.pki import Issued, issue_certificate, name, self_signed_root
from k3s_daas.enclave.roots import TrustedRoot

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "nitro"
RECORDED: dict[str, Any] = json.loads((VECTORS / "recorded.json").read_text(encoding="utf-8"))

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
ENCLAVE_KEY = bytes(range(32))
PCRS = {index: (bytes([index + 1]) * 48 if index < 3 else bytes(48)) for index in range(16)}


def recorded(name: str) -> tuple[bytes, int, dict[str, Any]]:
    """(document, verify_at_ms, expectations) of a recorded real document."""
    entry = RECORDED["documents"][name]
    return bytes.fromhex(entry["document"]), entry["verify_at_ms"], entry["expect"]


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class TestPki:
    """A root and an AWS-shaped chain below it; ``document()`` signs payloads with the leaf."""

    __test__ = False  # not a pytest class

    start: dt.datetime = NOW - dt.timedelta(days=1)
    end: dt.datetime = NOW + dt.timedelta(days=1)
    leaf_start: dt.datetime = NOW - dt.timedelta(hours=1)
    leaf_end: dt.datetime = NOW + dt.timedelta(hours=2)
    root: Issued = field(init=False)
    chain: list[Issued] = field(init=False)
    leaf: Issued = field(init=False)

    def __post_init__(self) -> None:
        self.root = self_signed_root(
            ec.generate_private_key(ec.SECP384R1()), name("test.nitro-enclaves"), self.start, self.end
        )
        regional = issue_certificate(self.root, name("regional"), self.start, self.end, path_length=2)
        zonal = issue_certificate(regional, name("zonal"), self.start, self.end, path_length=1)
        instance = issue_certificate(zonal, name("instance"), self.start, self.end, path_length=0)
        self.chain = [regional, zonal, instance]
        self.leaf = issue_certificate(
            instance, name("enclave"), self.leaf_start, self.leaf_end, path_length=None, ca=False
        )

    @property
    def trusted(self) -> TrustedRoot:
        return TrustedRoot(name="test root", certificate=self.root.certificate)

    def policy(self, **overrides: Any) -> Policy:
        base: dict[str, Any] = {"roots": (self.trusted,), "expected_pcrs": {0: PCRS[0], 1: PCRS[1], 2: PCRS[2]}}
        base.update(overrides)
        return Policy(**base)

    def payload(self, **overrides: Any) -> AttestationDocument:
        document = AttestationDocument(
            module_id="i-0123456789abcdef0-enc0123456789abcdef",
            timestamp_ms=NOW_MS,
            pcrs=PCRS,
            certificate=self.leaf.der,
            cabundle=(self.root.der, *(ca.der for ca in self.chain)),
            public_key=ENCLAVE_KEY,
        )
        return replace(document, **overrides)

    def document(
        self, payload: bytes | None = None, *, signer: ec.EllipticCurvePrivateKey | None = None, **overrides: Any
    ) -> bytes:
        raw = payload if payload is not None else self.payload(**overrides).encode()
        return sign_es384(raw, signer or self.leaf.key).encode()


def flip(data: bytes, position: int) -> bytes:
    """``data`` with one bit of the byte at ``position`` flipped."""
    changed = bytearray(data)
    changed[position] ^= 0x01
    return bytes(changed)


def recose(document: bytes, change: Callable[[CoseSign1], CoseSign1]) -> bytes:
    return change(CoseSign1.decode(document)).encode()
