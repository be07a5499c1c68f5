"""Fixtures for the chain layer: a localnet (SQLite store + real HTTP server on 127.0.0.1) with a
controllable clock, Sui keys for the vectors' actors, and clients (localnet writer, pysui, ours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from localnet_testing import Localnet, ManualClock

from k3s_daas.localnet.server import BackgroundServer, LocalnetApp
from k3s_daas.localnet.store import Store
from k3s_daas.sui.crypto import Keypair, SignatureScheme


@pytest.fixture
def keys() -> dict[str, Keypair]:
    """One key per vector actor, over the three schemes Sui accepts."""
    return {
        "admin": Keypair.generate(SignatureScheme.ED25519),
        "alice": Keypair.generate(SignatureScheme.SECP256K1),
        "bob": Keypair.generate(SignatureScheme.SECP256R1),
        "carol": Keypair.generate(SignatureScheme.ED25519),
    }


@pytest.fixture
def start_localnet(tmp_path: Path) -> Iterator[Callable[..., Localnet]]:
    """Start localnets (admin key, db path and clock choosable); all are stopped at teardown."""
    started: list[BackgroundServer] = []

    def start(
        admin: Keypair | None = None,
        db: Path | None = None,
        clock: ManualClock | None = None,
        allow_clock_control: bool = False,
    ) -> Localnet:
        admin = admin or Keypair.generate(SignatureScheme.ED25519)
        clock = clock or ManualClock()
        store = Store(db or tmp_path / f"localnet-{len(started)}.sqlite3")
        info = store.initialise(admin.address, clock())
        server = BackgroundServer(LocalnetApp(store, clock=clock, allow_clock_control=allow_clock_control))
        server.start()
        started.append(server)
        return Localnet(store, server, clock, admin, info)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def localnet(start_localnet: Callable[..., Localnet], keys: dict[str, Keypair]) -> Localnet:
    return start_localnet(admin=keys["admin"])
