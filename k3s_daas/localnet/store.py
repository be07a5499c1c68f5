"""Localnet's SQLite state: object versions, live objects, transactions (one per checkpoint),
events, and the replay guard.

Every write is one SQLite transaction opened with ``BEGIN IMMEDIATE``: the entry function reads
the state it runs against inside the same transaction that writes its effects, so concurrent
writers (threads, server processes, CLI processes) serialize instead of losing updates, and a
crash leaves either all of a transaction's effects or none. The database runs in WAL mode so
readers see a consistent snapshot without blocking the writer.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import struct
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from k3s_daas.errors import UserError
from k3s_daas.localnet.move import TypeTag, address_bytes, base58, blake2b256, canonical_address
from k3s_daas.localnet.package import Package
from k3s_daas.localnet.semantics import add_enclave_module, execute, genesis
from k3s_daas.localnet.state import (
    Call,
    ChangeKind,
    Deployment,
    Effects,
    ObjectChange,
    ObjectState,
    Owner,
    OwnerKind,
    TxContext,
)

SCHEMA_VERSION: Final = "1"
_BUSY_TIMEOUT_S: Final = 30.0

_DDL: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS transactions (
    seq INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    checkpoint_digest TEXT NOT NULL,
    sender TEXT,
    module TEXT,
    function TEXT,
    message TEXT,
    signature TEXT,
    timestamp_ms INTEGER NOT NULL,
    lamport_version INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS object_versions (
    object_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    tx_seq INTEGER NOT NULL,
    type TEXT,
    owner_kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    initial_shared_version INTEGER NOT NULL,
    contents TEXT NOT NULL,
    digest TEXT NOT NULL,
    has_public_transfer INTEGER NOT NULL,
    PRIMARY KEY (object_id, version)
) STRICT;
CREATE TABLE IF NOT EXISTS live_objects (
    object_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    owner_kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    type TEXT,
    type_package TEXT,
    type_module TEXT,
    type_name TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS live_by_owner ON live_objects (owner, object_id);
CREATE INDEX IF NOT EXISTS live_by_type ON live_objects (type_package, type_module, type_name, object_id);
CREATE TABLE IF NOT EXISTS object_changes (
    tx_seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    input_version INTEGER,
    output_version INTEGER,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    PRIMARY KEY (tx_seq, idx)
) STRICT;
CREATE TABLE IF NOT EXISTS events (
    tx_seq INTEGER NOT NULL,
    event_seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    type_package TEXT NOT NULL,
    type_module TEXT NOT NULL,
    type_name TEXT NOT NULL,
    tx_module TEXT NOT NULL,
    sender TEXT NOT NULL,
    contents TEXT NOT NULL,
    PRIMARY KEY (tx_seq, event_seq)
) STRICT;
CREATE INDEX IF NOT EXISTS events_by_type ON events (type_package, type_module, type_name, tx_seq, event_seq);
CREATE TABLE IF NOT EXISTS used_messages (digest TEXT PRIMARY KEY, seen_at_ms INTEGER NOT NULL) STRICT;
"""


class StoreError(UserError):
    """The database is missing, belongs to another chain, or cannot be opened."""


class ReplayedCall(UserError):
    """This exact signed call was submitted before."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    state: ObjectState
    digest: str
    tx_seq: int
    """The transaction (and checkpoint) that wrote this version."""


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    seq: int
    digest: str
    checkpoint_digest: str
    sender: str | None
    module: str | None
    function: str | None
    signature: str | None
    timestamp_ms: int
    lamport_version: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    tx_seq: int
    event_seq: int
    type: str
    tx_module: str
    sender: str
    contents: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class StoredChange:
    idx: int
    object_id: str
    input_version: int | None
    output_version: int | None
    created: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class Committed:
    """What a committed transaction did, for the caller's report."""

    transaction: StoredTransaction
    effects: Effects
    digests: Mapping[tuple[str, int], str]


@dataclass(frozen=True, slots=True)
class ChainInfo:
    chain_identifier: str
    deployment: Deployment
    genesis_timestamp_ms: int


def object_digest(state: ObjectState, layouts: Package) -> str:
    """32 bytes that change whenever the object's contents, owner or version change."""
    if state.type is None:
        body = json.dumps(state.contents, sort_keys=True).encode()
    else:
        body = layouts.layouts.to_bcs(state.type, state.contents)
    owner = f"{state.owner.kind}:{state.owner.address}:{state.owner.initial_shared_version}".encode()
    return base58(blake2b256(address_bytes(state.object_id), struct.pack("<Q", state.version), body, owner))


class _Reader:
    """A ``StateReader`` over one open connection (inside its transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get_object(self, object_id: str) -> ObjectState | None:
        row = self._conn.execute(
            "SELECT v.* FROM live_objects l JOIN object_versions v "
            "ON v.object_id = l.object_id AND v.version = l.version WHERE l.object_id = ?",
            (object_id,),
        ).fetchone()
        return None if row is None else _object_from_row(row).state


def _object_from_row(row: sqlite3.Row) -> StoredObject:
    owner = Owner(OwnerKind(row["owner_kind"]), row["owner"], row["initial_shared_version"])
    type_tag = None if row["type"] is None else TypeTag.parse(row["type"])
    state = ObjectState(
        row["object_id"],
        row["version"],
        type_tag,
        owner,
        json.loads(row["contents"]),
        bool(row["has_public_transfer"]),
    )
    return StoredObject(state, row["digest"], row["tx_seq"])


def _tx_from_row(row: sqlite3.Row) -> StoredTransaction:
    return StoredTransaction(
        row["seq"],
        row["digest"],
        row["checkpoint_digest"],
        row["sender"],
        row["module"],
        row["function"],
        row["signature"],
        row["timestamp_ms"],
        row["lamport_version"],
    )


def _type_columns(pattern: str, prefix: str = "") -> tuple[str, list[object]]:
    """SQL for Sui's type filter (package, package::module, package::module::Name, or an
    instantiation) over ``type``/``type_package``/``type_module``/``type_name`` columns."""
    parts = pattern.strip().split("::", 2)
    package = canonical_address(parts[0])
    p = prefix
    if len(parts) == 1:
        return f"{p}type_package = ?", [package]
    if len(parts) == 2:
        return f"{p}type_package = ? AND {p}type_module = ?", [package, parts[1]]
    if "<" in parts[2]:
        return f"{p}type = ?", [TypeTag.parse(pattern).repr()]
    return f"{p}type_package = ? AND {p}type_module = ? AND {p}type_name = ?", [package, parts[1], parts[2]]


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Keyset paging: rows strictly after ``after`` / before ``before``, ``limit`` of them from
    the front (forward) or the back (``backward``)."""

    limit: int
    after: tuple[object, ...] | None = None
    before: tuple[object, ...] | None = None
    backward: bool = False


@dataclass(frozen=True, slots=True)
class PageRows:
    rows: list[sqlite3.Row]
    has_previous: bool
    has_next: bool


class ReadView:
    """Queries over one consistent snapshot (one read transaction)."""

    def __init__(self, conn: sqlite3.Connection, info: ChainInfo) -> None:
        self._conn = conn
        self.info = info

    @property
    def package(self) -> Package:
        return self.info.deployment.package

    # objects

    def get_object(
        self,
        object_id: str,
        *,
        version: int | None = None,
        root_version: int | None = None,
        at_checkpoint: int | None = None,
    ) -> StoredObject | None:
        object_id = canonical_address(object_id)
        if version is not None:
            row = self._conn.execute(
                "SELECT * FROM object_versions WHERE object_id = ? AND version = ?", (object_id, version)
            ).fetchone()
        elif root_version is not None:
            row = self._conn.execute(
                "SELECT * FROM object_versions WHERE object_id = ? AND version <= ? ORDER BY version DESC LIMIT 1",
                (object_id, root_version),
            ).fetchone()
            if row is not None and self._deleted_at_or_before(object_id, row["version"], root_version):
                row = None
        elif at_checkpoint is not None:
            row = self._conn.execute(
                "SELECT * FROM object_versions WHERE object_id = ? AND tx_seq <= ? ORDER BY version DESC LIMIT 1",
                (object_id, at_checkpoint),
            ).fetchone()
            if row is not None and self._deleted_by(object_id, row["version"], at_checkpoint):
                row = None
        else:
            row = self._conn.execute(
                "SELECT v.* FROM live_objects l JOIN object_versions v "
                "ON v.object_id = l.object_id AND v.version = l.version WHERE l.object_id = ?",
                (object_id,),
            ).fetchone()
        return None if row is None else _object_from_row(row)

    def _deleted_at_or_before(self, object_id: str, version: int, root_version: int) -> bool:
        return (
            self._conn.execute(
                "SELECT 1 FROM object_changes c JOIN transactions t ON t.seq = c.tx_seq "
                "WHERE c.object_id = ? AND c.deleted = 1 AND c.input_version = ? AND t.lamport_version <= ?",
                (object_id, version, root_version),
            ).fetchone()
            is not None
        )

    def _deleted_by(self, object_id: str, version: int, checkpoint: int | None) -> bool:
        query = "SELECT 1 FROM object_changes WHERE object_id = ? AND deleted = 1 AND input_version = ?"
        params: list[object] = [object_id, version]
        if checkpoint is not None:
            query += " AND tx_seq <= ?"
            params.append(checkpoint)
        return self._conn.execute(query, params).fetchone() is not None

    def objects(
        self,
        page: PageRequest,
        *,
        owner: str | None = None,
        owner_kind: OwnerKind | None = None,
        type_pattern: str | None = None,
    ) -> PageRows:
        where: list[str] = []
        params: list[object] = []
        if owner is not None:
            where.append("l.owner = ?")
            params.append(canonical_address(owner))
        if owner_kind is not None:
            where.append("l.owner_kind = ?")
            params.append(owner_kind.value)
        if type_pattern is not None:
            clause, values = _type_columns(type_pattern, "l.")
            where.append(clause)
            params.extend(values)
        base = (
            "SELECT v.* FROM live_objects l JOIN object_versions v "
            "ON v.object_id = l.object_id AND v.version = l.version"
        )
        return self._page(base, where, params, ("l.object_id",), page)

    def objects_by_ids(self, object_ids: Sequence[str]) -> dict[str, StoredObject]:
        found: dict[str, StoredObject] = {}
        for object_id in object_ids:
            stored = self.get_object(object_id)
            if stored is not None:
                found[stored.state.object_id] = stored
        return found

    # transactions and checkpoints

    def transaction(self, digest: str) -> StoredTransaction | None:
        row = self._conn.execute("SELECT * FROM transactions WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else _tx_from_row(row)

    def transaction_at(self, seq: int) -> StoredTransaction | None:
        row = self._conn.execute("SELECT * FROM transactions WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else _tx_from_row(row)

    def latest_transaction(self) -> StoredTransaction:
        row = self._conn.execute("SELECT * FROM transactions ORDER BY seq DESC LIMIT 1").fetchone()
        return _tx_from_row(row)

    def changes(self, tx_seq: int, page: PageRequest) -> PageRows:
        return self._page("SELECT * FROM object_changes", ["tx_seq = ?"], [tx_seq], ("idx",), page)

    # events

    def events(
        self,
        page: PageRequest,
        *,
        type_pattern: str | None = None,
        module: str | None = None,
        sender: str | None = None,
        after_checkpoint: int | None = None,
        at_checkpoint: int | None = None,
        before_checkpoint: int | None = None,
        tx_seq: int | None = None,
    ) -> PageRows:
        where: list[str] = []
        params: list[object] = []
        if type_pattern is not None:
            clause, values = _type_columns(type_pattern)
            where.append(clause)
            params.extend(values)
        if module is not None:
            parts = module.split("::")
            if len(parts) == 1:
                where.append("tx_module LIKE ?")
                params.append(canonical_address(parts[0]) + "::%")
            else:
                where.append("tx_module = ?")
                params.append(canonical_address(parts[0]) + "::" + parts[1])
        if sender is not None:
            where.append("sender = ?")
            params.append(canonical_address(sender))
        for op, value in (
            ("> ?", after_checkpoint),
            ("= ?", at_checkpoint),
            ("< ?", before_checkpoint),
            ("= ?", tx_seq),
        ):
            if value is not None:
                where.append(f"tx_seq {op}")
                params.append(value)
        return self._page("SELECT * FROM events", where, params, ("tx_seq", "event_seq"), page)

    def _page(
        self,
        base: str,
        where: list[str],
        params: list[object],
        key: tuple[str, ...],
        page: PageRequest,
    ) -> PageRows:
        def bound(op: str, values: tuple[object, ...]) -> tuple[str, list[object]]:
            columns = ", ".join(key)
            marks = ", ".join("?" for _ in key)
            return f"({columns}) {op} ({marks})", list(values)

        clauses, values = list(where), list(params)
        if page.after is not None:
            clause, extra = bound(">", page.after)
            clauses.append(clause)
            values.extend(extra)
        if page.before is not None:
            clause, extra = bound("<", page.before)
            clauses.append(clause)
            values.extend(extra)
        condition = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        direction = "DESC" if page.backward else "ASC"
        order = ", ".join(f"{column} {direction}" for column in key)
        rows = self._conn.execute(
            f"{base}{condition} ORDER BY {order} LIMIT ?",
            [*values, page.limit + 1],
        ).fetchall()
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        if page.backward:
            rows.reverse()
        # The far side of the page: is there anything beyond the cursor the caller came from?
        outside = page.before if page.backward else page.after
        beyond = False
        if outside is not None:
            clause, extra = bound(">=" if page.backward else "<=", outside)
            beyond_condition = " WHERE " + " AND ".join([*where, clause])
            beyond = self._conn.execute(f"{base}{beyond_condition} LIMIT 1", [*params, *extra]).fetchone() is not None
        if page.backward:
            return PageRows(rows, has_previous=more, has_next=beyond)
        return PageRows(rows, has_previous=beyond, has_next=more)

    @staticmethod
    def event_from_row(row: sqlite3.Row) -> StoredEvent:
        return StoredEvent(
            row["tx_seq"], row["event_seq"], row["type"], row["tx_module"], row["sender"], json.loads(row["contents"])
        )

    @staticmethod
    def change_from_row(row: sqlite3.Row) -> StoredChange:
        return StoredChange(
            row["idx"],
            row["object_id"],
            row["input_version"],
            row["output_version"],
            bool(row["created"]),
            bool(row["deleted"]),
        )

    @staticmethod
    def object_from_row(row: sqlite3.Row) -> StoredObject:
        return _object_from_row(row)


class Store:
    """One localnet database file. Safe to use from many threads and processes at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_DDL)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open localnet database {path}: {error}") from None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[ReadView]:
        """A consistent snapshot for one request."""
        with closing(self._connect()) as conn:
            conn.execute("BEGIN")
            try:
                info = self._info(conn)
                yield ReadView(conn, info)
            finally:
                conn.execute("ROLLBACK")

    # genesis and metadata

    def initialise(self, admin: str | None, timestamp_ms: int) -> ChainInfo:
        """Publish the package on first use (for ``admin``); afterwards check ``admin`` matches."""
        with self._write() as conn:
            existing = _meta(conn)
            if existing:
                info = self._info(conn)
                if admin is not None and canonical_address(admin) != info.deployment.admin:
                    raise StoreError(
                        f"{self.path} was created for admin {info.deployment.admin}, not {canonical_address(admin)}"
                    )
                if not info.deployment.enclave_config_id:
                    self._add_enclave_module(conn, info, timestamp_ms)
                    info = self._info(conn)
                return info
            if admin is None:
                raise StoreError(f"{self.path} holds no chain yet: give --admin ADDRESS to create one")
            digest = secrets.token_bytes(32)
            package_id = "0x" + secrets.token_hex(32)
            created = genesis(package_id, admin, digest)
            checkpoint_digest = base58(blake2b256(b"genesis", digest))
            chain_identifier = blake2b256(b"genesis", digest)[:4].hex()
            deployment = created.deployment
            values = {
                "schema_version": SCHEMA_VERSION,
                "chain_identifier": chain_identifier,
                "package_id": deployment.package.package_id,
                "pool_id": deployment.pool_id,
                "gateway_id": deployment.gateway_id,
                "enclave_config_id": deployment.enclave_config_id,
                "admin": deployment.admin,
                "genesis_timestamp_ms": str(timestamp_ms),
                "clock_offset_ms": "0",
            }
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", values.items())
            transaction = StoredTransaction(
                0, base58(digest), checkpoint_digest, None, None, None, None, timestamp_ms, 1
            )
            self._record(conn, transaction, None, created.effects, deployment.package)
            return self._info(conn)

    def _add_enclave_module(self, conn: sqlite3.Connection, info: ChainInfo, timestamp_ms: int) -> None:
        """A chain created before the ``enclave`` module gets it (and its EnclaveConfig) in one
        system transaction, like genesis: every id and object it had stays as it was."""
        package = info.deployment.package
        package_object = _Reader(conn).get_object(package.package_id)
        if package_object is None:
            raise StoreError(f"{self.path} has no package object {package.package_id}")
        last = conn.execute(
            "SELECT seq, checkpoint_digest, timestamp_ms, lamport_version FROM transactions ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        digest = secrets.token_bytes(32)
        effects = add_enclave_module(package_object, package, digest, package_object.version + 1)
        transaction = StoredTransaction(
            last["seq"] + 1,
            base58(digest),
            base58(blake2b256(last["checkpoint_digest"].encode(), digest)),
            None,
            None,
            None,
            None,
            max(timestamp_ms, last["timestamp_ms"]),
            effects.lamport_version,
        )
        self._record(conn, transaction, None, effects, package)
        (config,) = [change.object_id for change in effects.changes if change.kind is ChangeKind.CREATED]
        conn.execute("INSERT INTO meta (key, value) VALUES ('enclave_config_id', ?)", (config,))

    def info(self) -> ChainInfo:
        with closing(self._connect()) as conn:
            return self._info(conn)

    def _info(self, conn: sqlite3.Connection) -> ChainInfo:
        meta = _meta(conn)
        if not meta:
            raise StoreError(f"{self.path} holds no chain yet: start `k3s-daas localnet serve --admin ADDRESS`")
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {meta.get('schema_version')}, expected {SCHEMA_VERSION}")
        deployment = Deployment(
            package=Package(meta["package_id"]),
            pool_id=meta["pool_id"],
            gateway_id=meta["gateway_id"],
            admin=meta["admin"],
            enclave_config_id=meta.get("enclave_config_id", ""),
        )
        return ChainInfo(meta["chain_identifier"], deployment, int(meta["genesis_timestamp_ms"]))

    def clock_offset_ms(self) -> int:
        with closing(self._connect()) as conn:
            return int(_meta(conn).get("clock_offset_ms", "0"))

    def advance_clock(self, by_ms: int) -> int:
        """Move localnet's clock forward (tests of cooldowns and expiry); never backwards."""
        if by_ms < 0:
            raise UserError("the clock only moves forward")
        with self._write() as conn:
            offset = int(_meta(conn).get("clock_offset_ms", "0")) + by_ms
            conn.execute("UPDATE meta SET value = ? WHERE key = 'clock_offset_ms'", (str(offset),))
            return offset

    # transactions

    def execute(
        self,
        call: Call,
        sender: str,
        timestamp_ms: int,
        *,
        message: bytes | None = None,
        signature: str | None = None,
    ) -> Committed:
        """Run ``call`` for ``sender`` and commit its effects atomically.

        ``message``/``signature`` are the signed request, recorded with the transaction; the
        message is accepted once only (replays raise ``ReplayedCall``), even when it aborts.
        Aborts and invalid transactions change nothing else.
        """
        sender = canonical_address(sender)
        digest = blake2b256(message) if message is not None else secrets.token_bytes(32)
        digest_text = base58(digest)
        failure: UserError | None = None
        with self._write() as conn:
            info = self._info(conn)
            if message is not None:
                seen = conn.execute("SELECT 1 FROM used_messages WHERE digest = ?", (digest_text,)).fetchone()
                if seen is not None:
                    raise ReplayedCall(f"this signed call ({digest_text}) was already submitted")
            last = conn.execute(
                "SELECT seq, checkpoint_digest, timestamp_ms FROM transactions ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            # Sui's clock never runs backwards.
            timestamp_ms = max(timestamp_ms, last["timestamp_ms"])
            ctx = TxContext(sender, digest, timestamp_ms)
            try:
                effects = execute(_Reader(conn), info.deployment, call, ctx)
            except UserError as error:
                # An aborted call still consumes its signed message, so it cannot be replayed
                # later, when the state might let it succeed.
                failure = error
                if message is not None:
                    conn.execute("INSERT INTO used_messages VALUES (?, ?)", (digest_text, timestamp_ms))
            else:
                seq = last["seq"] + 1
                checkpoint_digest = base58(blake2b256(last["checkpoint_digest"].encode(), digest))
                transaction = StoredTransaction(
                    seq,
                    digest_text,
                    checkpoint_digest,
                    sender,
                    call.module,
                    call.function,
                    signature,
                    timestamp_ms,
                    effects.lamport_version,
                )
                digests = self._record(conn, transaction, message, effects, info.deployment.package)
                if message is not None:
                    conn.execute("INSERT INTO used_messages VALUES (?, ?)", (digest_text, timestamp_ms))
                return Committed(transaction, effects, digests)
        assert failure is not None
        raise failure

    def _record(
        self,
        conn: sqlite3.Connection,
        tx: StoredTransaction,
        message: bytes | None,
        effects: Effects,
        package: Package,
    ) -> dict[tuple[str, int], str]:
        conn.execute(
            "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tx.seq,
                tx.digest,
                tx.checkpoint_digest,
                tx.sender,
                tx.module,
                tx.function,
                None if message is None else message.decode("utf-8", "replace"),
                tx.signature,
                tx.timestamp_ms,
                tx.lamport_version,
            ),
        )
        digests: dict[tuple[str, int], str] = {}
        for idx, change in enumerate(effects.changes):
            digests.update(self._record_change(conn, tx.seq, idx, change, package))
        for event_seq, event in enumerate(effects.events):
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tx.seq,
                    event_seq,
                    event.type.repr(),
                    event.type.address,
                    event.type.module,
                    event.type.name,
                    f"{package.package_id}::{event.module}",
                    event.sender,
                    json.dumps(event.contents, separators=(",", ":")),
                ),
            )
        return digests

    def _record_change(
        self, conn: sqlite3.Connection, tx_seq: int, idx: int, change: ObjectChange, package: Package
    ) -> dict[tuple[str, int], str]:
        before, after = change.before, change.after
        conn.execute(
            "INSERT INTO object_changes VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                tx_seq,
                idx,
                change.object_id,
                None if before is None else before.version,
                None if after is None else after.version,
                int(change.kind is ChangeKind.CREATED),
                int(change.kind is ChangeKind.DELETED),
            ),
        )
        if after is None:
            conn.execute("DELETE FROM live_objects WHERE object_id = ?", (change.object_id,))
            return {}
        digest = object_digest(after, package)
        type_repr = None if after.type is None else after.type.repr()
        conn.execute(
            "INSERT INTO object_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                after.object_id,
                after.version,
                tx_seq,
                type_repr,
                after.owner.kind.value,
                after.owner.address,
                after.owner.initial_shared_version,
                json.dumps(after.contents, separators=(",", ":")),
                digest,
                int(after.has_public_transfer),
            ),
        )
        conn.execute(
            "INSERT OR REPLACE INTO live_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                after.object_id,
                after.version,
                after.owner.kind.value,
                after.owner.address,
                type_repr,
                None if after.type is None else after.type.address,
                None if after.type is None else after.type.module,
                None if after.type is None else after.type.name,
            ),
        )
        return {(after.object_id, after.version): digest}


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {row[0]: row[1] for row in conn.execute("SELECT key, value FROM meta")}
