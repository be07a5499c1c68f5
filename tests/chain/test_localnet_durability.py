"""Localnet's state survives concurrency and restarts: no lost update, no corruption, no loss."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import vector_replay as vr
from localnet_testing import Localnet, ManualClock

from k3s_daas.chain import ChainClient, ChainMetrics
from k3s_daas.localnet.store import PageRequest, Store
from k3s_daas.sui.crypto import Keypair, SignatureScheme

USER_STAKE = {"amount": 600_000_000, "role": 0, "node_name": ""}


def check_consistent(store: Store, expected_stakes: int) -> None:
    """Pool balance, table size, records, events and checkpoints all agree, with no gaps."""
    import sqlite3

    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        seqs = [row[0] for row in conn.execute("SELECT seq FROM transactions ORDER BY seq")]
        events = conn.execute("SELECT COUNT(*) FROM events WHERE type_name = 'Staked'").fetchone()[0]
    assert seqs == list(range(len(seqs)))
    assert events == expected_stakes
    with store.read() as view:
        pool = view.get_object(view.info.deployment.pool_id)
        assert pool is not None
        assert int(pool.state.contents["balance"]) == expected_stakes * USER_STAKE["amount"]
        assert int(pool.state.contents["entries"]["size"]) == expected_stakes
        records = view.objects(PageRequest(50), type_pattern=f"{view.package.package_id}::staking::StakeRecord")
        total, page = len(records.rows), records
        while page.has_next:
            page = view.objects(
                PageRequest(50, after=(page.rows[-1]["object_id"],)),
                type_pattern=f"{view.package.package_id}::staking::StakeRecord",
            )
            total += len(page.rows)
        assert total == expected_stakes


def test_concurrent_signed_writers_over_http(localnet: Localnet) -> None:
    stakers = [Keypair.generate(SignatureScheme.ED25519) for _ in range(8)]

    def stake_many(key: Keypair) -> list[str]:
        writer = localnet.writer()  # one client per thread, as separate processes would have
        return [writer.call(key, "staking", "stake", USER_STAKE)["digest"] for _ in range(10)]

    with ThreadPoolExecutor(max_workers=len(stakers)) as pool:
        digests = [d for batch in pool.map(stake_many, stakers) for d in batch]
    assert len(set(digests)) == 80
    check_consistent(localnet.store, 80)


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from k3s_daas.localnet.state import Call
    from k3s_daas.localnet.store import Store

    store = Store(Path(sys.argv[1]))
    for i in range(int(sys.argv[3])):
        call = Call("staking", "stake", {"amount": 600000000, "role": 0, "node_name": ""})
        store.execute(call, sys.argv[2], 1_700_000_000_000 + i)
    """
)


def test_concurrent_writer_processes_share_one_database(localnet: Localnet) -> None:
    """Several processes write the same SQLite file directly while the server also writes."""
    senders = [Keypair.generate(SignatureScheme.ED25519).address for _ in range(4)]
    processes = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(localnet.store.path), sender, "15"]) for sender in senders
    ]
    writer = localnet.writer()
    key = Keypair.generate(SignatureScheme.SECP256R1)
    for _ in range(10):
        writer.call(key, "staking", "stake", USER_STAKE)
    for process in processes:
        assert process.wait(timeout=120) == 0
    check_consistent(localnet.store, 4 * 15 + 10)


async def test_restart_keeps_everything(start_localnet: Any, keys: dict[str, Keypair], tmp_path: Path) -> None:
    db = tmp_path / "restart.sqlite3"
    clock = ManualClock()
    first = start_localnet(admin=keys["admin"], db=db, clock=clock)
    writer = first.writer()
    report = writer.call(keys["alice"], "staking", "stake", USER_STAKE)
    record = next(c["objectId"] for c in report["objectChanges"] if c["objectType"].endswith("StakeRecord"))
    async with await ChainClient.connect(first.chain_settings(), ChainMetrics()) as chain:
        before = await chain.get_stake_record(record)
        page = await chain.events()
    fingerprint = vr.db_fingerprint(db)
    first.server.stop()

    # A new process would open the file anew: a new Store, a new server, a new port.
    second = start_localnet(admin=keys["admin"], db=db, clock=clock)
    assert second.info == first.info
    assert vr.db_fingerprint(db) == fingerprint
    async with await ChainClient.connect(second.chain_settings(package_id=""), ChainMetrics()) as chain:
        assert chain.package_id == first.package_id  # discovered from the restarted localnet
        assert await chain.get_stake_record(record) == before
        assert (await chain.events(page.cursor)).events == ()  # the old cursor still resumes exactly
        clock.advance(1)
        second.writer().call(keys["bob"], "staking", "stake", USER_STAKE)
        resumed = await chain.events(page.cursor)
        assert [e.fields["owner"] for e in resumed.events] == [keys["bob"].address]
    check_consistent(second.store, 2)


def test_a_database_keeps_its_admin(start_localnet: Any, keys: dict[str, Keypair], tmp_path: Path) -> None:
    import pytest

    from k3s_daas.localnet.store import StoreError

    db = tmp_path / "admin.sqlite3"
    start_localnet(admin=keys["admin"], db=db)
    with pytest.raises(StoreError, match="was created for admin"):
        Store(db).initialise(keys["bob"].address, 0)
    assert Store(db).initialise(None, 0).deployment.admin == keys["admin"].address
    with pytest.raises(StoreError, match="--admin"):
        Store(tmp_path / "empty.sqlite3").initialise(None, 0)
