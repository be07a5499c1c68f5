"""The work queue: merged marks, one timer per key, and waiting for a batch to be processed."""

from __future__ import annotations

import asyncio

from k3s_daas_operator.index import ClusterIndex, Key, Kind
from k3s_daas_operator.workqueue import WorkQueue

A, B = Key(Kind.SEALTOKEN, "a"), Key(Kind.STAKEDNODE, "b")


async def test_marks_merge_and_force_sticks() -> None:
    queue = WorkQueue()
    queue.mark([A], force=True)
    queue.mark([A, B])
    assert await queue.take() == {A: True, B: False}


async def test_one_timer_per_key_the_earliest_wins() -> None:
    queue = WorkQueue()
    queue.later(A, 0.05)
    queue.later(A, 10)  # later than the pending one: ignored
    queue.later(A, 0.01)
    batch = await asyncio.wait_for(queue.take(), 1)
    assert batch == {A: False}
    queue.mark([B])
    assert await asyncio.wait_for(queue.take(), 1) == {B: False}  # the superseded timer does not fire again


async def test_wait_processed_returns_after_the_batch_holding_the_keys() -> None:
    queue = WorkQueue()

    async def worker() -> None:
        while True:
            await queue.take()
            await asyncio.sleep(0.01)
            await queue.batch_done()

    task = asyncio.create_task(worker())
    batch = queue.mark([A])
    await asyncio.sleep(0)  # the worker may take the batch before anyone waits for it
    await asyncio.wait_for(queue.wait_processed(batch), 1)
    assert queue.finished >= 1
    task.cancel()


def test_index_keeps_the_newer_version_and_forgets_deleted_objects() -> None:
    index = ClusterIndex()

    def body(version: str, uid: str = "u1", token: str = "c") -> dict:
        return {
            "metadata": {"name": "t", "uid": uid, "resourceVersion": version},
            "spec": {"owner": "0x" + "a" * 64, "tokenObject": "0x" + token * 64},
        }

    assert index.upsert_sealtoken(body("5")) is not None
    assert index.upsert_sealtoken(body("4")) is None  # an older listing
    assert index.sealtokens_naming("0x" + "c" * 64) == {"t"}
    index.delete(Kind.SEALTOKEN, body("6"))
    assert index.upsert_sealtoken(body("5")) is None and "t" not in index.sealtokens
    assert index.sealtokens_naming("0x" + "c" * 64) == set()
