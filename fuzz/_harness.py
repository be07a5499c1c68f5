"""Shared parts of the fuzz harnesses: fixed keys and time, the in-process HTTP driver, the checks.

Every harness is a script (``python fuzz/<target>.py [libFuzzer flags] [corpus dirs]``) whose
directory is on ``sys.path``, so this module is imported as ``_harness``. What is fixed here (keys,
clock, cluster id) is what the seed corpus (``fuzz/seeds.py``) was made with: a seed that is a valid
token stays valid, and the fuzzer mutates from inside the accepted language as well as from outside.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import resource
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import atheris

NOW: Final = 1_767_225_600
"""The fixed clock of every harness (2026-01-01T00:00:00Z); seeds are signed for it."""
CLUSTER_ID: Final = "fuzz-cluster"
NODE_NAME: Final = "worker-1"

# RSS may grow while caches and allocator pools fill; past this, a run is a finding (a leak or an
# unbounded structure). libFuzzer's own -rss_limit_mb bounds the absolute size.
RSS_GROWTH_LIMIT_MB: Final = float(os.environ.get("K3S_DAAS_FUZZ_RSS_GROWTH_MB", "48"))
_WARMUP_RUNS: Final = 300
_CHECK_EVERY: Final = 250


def key_secret(label: str) -> bytes:
    """A fixed 32-byte test secret per scheme label: public test keys, never used anywhere else."""
    return hashlib.sha256(f"k3s-daas fuzz key {label}".encode()).digest()


def rss_mb() -> float:
    """Current resident set size (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemoryGuard:
    """Fails the run when RSS grows more than ``RSS_GROWTH_LIMIT_MB`` after a warm-up."""

    def __init__(self) -> None:
        self.runs = 0
        self.baseline: float | None = None

    def tick(self) -> None:
        self.runs += 1
        if self.runs == _WARMUP_RUNS:
            self.baseline = rss_mb()
        elif self.baseline is not None and self.runs % _CHECK_EVERY == 0:
            growth = rss_mb() - self.baseline
            if growth > RSS_GROWTH_LIMIT_MB:
                raise AssertionError(f"RSS grew {growth:.1f} MiB over {self.runs} runs (limit {RSS_GROWTH_LIMIT_MB})")


class Finding(AssertionError):
    """An input that broke a guarantee (a crash, a 5xx, a malformed answer)."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise Finding(f"status {self.status}: body is not JSON: {self.body[:200]!r}") from None


class AppDriver:
    """A real aiohttp application behind a real server on 127.0.0.1, driven from one event loop.

    The raw request goes over a socket, so aiohttp's own HTTP parsing is part of what is fuzzed.
    A plain ClientSession, not aiohttp's TestClient: that one keeps every response until it closes."""

    def __init__(self, make_app: Callable[[], Any]) -> None:
        import aiohttp
        from aiohttp.test_utils import TestServer

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

        async def start() -> tuple[TestServer, aiohttp.ClientSession]:
            app = make_app()
            if inspect.isawaitable(app):
                app = await app
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            return server, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

        self.server, self.session = self.loop.run_until_complete(start())

    def request(self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Answer:
        async def go() -> Answer:
            url = self.server.make_url(path)
            async with self.session.request(method, url, data=body, headers=headers) as response:
                return Answer(response.status, dict(response.headers), await response.read())

        return self.loop.run_until_complete(go())


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Finding(message)


def json_error_body(answer: Answer) -> None:
    """A refusal of ours: JSON object with a string ``error``."""
    document = answer.json()
    expect(
        isinstance(document, dict) and isinstance(document.get("error"), str), f"bad error body {answer.body[:200]!r}"
    )


def fuzz(test_one_input: Callable[[bytes], None]) -> None:
    """Hand control to libFuzzer, with the memory guard around every input."""
    guard = MemoryGuard()

    def one(data: bytes) -> None:
        test_one_input(data)
        guard.tick()

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


def instrumented(*packages: str, load: tuple[str, ...] = ()) -> None:
    """Import ``load`` (default: ``packages``) with coverage instrumentation of everything under
    ``packages``; call before anything else imports them."""
    with atheris.instrument_imports(include=list(packages)):
        for name in load or packages:
            __import__(name)


# --- the webhook, as server.build() wires it, with fixed state -------------------------------------


def seed_keys() -> dict[str, Any]:
    """The three keys the seeds are signed with, by scheme label."""
    from k3s_daas.sui.crypto import Keypair, SignatureScheme

    return {scheme.label: Keypair.from_secret(scheme, key_secret(scheme.label)) for scheme in SignatureScheme}


def _sealtoken(name: str, owner: str, role: str, stake_mist: int, permissions: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"owner": owner, "tokenObject": "0x" + hashlib.sha256(name.encode()).hexdigest()},
        "status": {
            "phase": "Active",
            "role": role,
            "stakeMist": str(stake_mist),
            "expiresAt": "2030-01-01T00:00:00Z",
            "permissions": permissions,
            "stakeRecord": "0x" + "5e" * 32,
        },
    }


def stakednode(owner: str, phase: str = "Active") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{NODE_NAME}-0123456789abcdef"},
        "spec": {"nodeName": NODE_NAME, "owner": owner, "stakeRecord": "0x" + "77" * 32},
        "status": {"phase": phase, "bootstrapTokenSecret": "bootstrap-token-abcdef"},
    }


def webhook_state(join: Any = None) -> Any:
    """A WebhookState holding Active SealTokens for the seed keys (Ed25519: admin), one Active
    StakedNode and an owned namespace; verification inline, clock fixed at ``NOW``."""
    from k3s_daas_webhook.admission_state import AdmissionPolicy, AdmissionSources
    from k3s_daas_webhook.app import WebhookState
    from k3s_daas_webhook.caches import VerifiedTokenCache
    from k3s_daas_webhook.index import IdentitySnapshot, entry_from_resource
    from k3s_daas_webhook.metrics import WebhookMetrics
    from k3s_daas_webhook.namespaces import NamespaceOwners
    from k3s_daas_webhook.stakednodes import NodeSnapshot
    from k3s_daas_webhook.verifier import TokenVerifier, VerifierConfig

    keys = seed_keys()
    resources = [
        _sealtoken("ed", keys["Ed25519"].address, "admin", 10_000_000_000, ["*:*"]),
        _sealtoken("k1", keys["Secp256k1"].address, "user", 600_000_000, ["pods:read", "configmaps:write"]),
        _sealtoken("r1", keys["Secp256r1"].address, "user", 400_000_000, ["pods:read"]),
    ]
    entries = [entry for resource in resources if (entry := entry_from_resource(resource)) is not None]
    namespaces = [{"metadata": {"name": "owned", "annotations": {"k3s-daas.io/owner": keys["Secp256k1"].address}}}]
    sources = AdmissionSources.preloaded(
        IdentitySnapshot.build(entries),
        NodeSnapshot.from_items([stakednode(keys["Ed25519"].address)]),
        NamespaceOwners.from_items(namespaces),
    )
    metrics = WebhookMetrics()

    def clock() -> float:
        return float(NOW)

    verifier = TokenVerifier(
        VerifierConfig(CLUSTER_ID, 30.0, 900.0), VerifiedTokenCache(1000, 30.0), None, metrics, clock
    )
    return WebhookState(
        holder=sources.tokens,
        verifier=verifier,
        metrics=metrics,
        join=join,
        clock=clock,
        admission=sources,
        policy=AdmissionPolicy(static_nodes=frozenset({"server-0"})),
    )


def check_webhook_answer(answer: Answer, allowed: set[int]) -> Any:
    """Never a 5xx (but the documented 503 + Retry-After), always JSON; the parsed body."""
    expect(answer.status in allowed, f"status {answer.status}: {answer.body[:300]!r}")
    expect(answer.headers.get("Content-Type", "").startswith("application/json"), f"not JSON: {answer.headers}")
    document = answer.json()
    expect(isinstance(document, dict), f"answer is not a JSON object: {answer.body[:200]!r}")
    return document
