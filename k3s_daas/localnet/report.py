"""A committed transaction as the essentials of ``sui client call --json`` show it."""

from __future__ import annotations

from k3s_daas.localnet.state import ChangeKind
from k3s_daas.localnet.store import Committed


def transaction_report(committed: Committed, package_id: str) -> dict[str, object]:
    tx = committed.transaction
    changes: list[dict[str, object]] = []
    for change in committed.effects.changes:
        state = change.latest
        entry: dict[str, object] = {
            "type": change.kind.value,
            "sender": tx.sender,
            "objectType": state.type_repr,
            "objectId": change.object_id,
            "version": str(tx.lamport_version),
        }
        if change.kind is not ChangeKind.DELETED and change.after is not None:
            entry["owner"] = change.after.owner.as_sui_json()
            entry["digest"] = committed.digests.get((change.object_id, change.after.version), "")
        if change.kind is ChangeKind.MUTATED and change.before is not None:
            entry["previousVersion"] = str(change.before.version)
        changes.append(entry)
    events = [
        {
            "id": {"txDigest": tx.digest, "eventSeq": str(seq)},
            "packageId": package_id,
            "transactionModule": event.module,
            "sender": event.sender,
            "type": event.type.repr(),
            "parsedJson": dict(event.contents),
            "timestampMs": str(tx.timestamp_ms),
        }
        for seq, event in enumerate(committed.effects.events)
    ]
    return {
        "digest": tx.digest,
        "effects": {"status": {"status": "success"}, "executedEpoch": "0"},
        "checkpoint": str(tx.seq),
        "timestampMs": str(tx.timestamp_ms),
        "objectChanges": changes,
        "events": events,
    }
