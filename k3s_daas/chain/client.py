"""Chain reads for the operator and the webhook, through pysui's async GraphQL client.

One ``ChainClient`` per process (it serializes its requests, as pysui's client does). Build it
with ``await ChainClient.connect(settings, metrics)``: pysui's constructor introspects the
schema synchronously, so it runs in a worker thread. Every read has a timeout, is retried with
exponential backoff on transient faults only, and is timed in the ``ChainMetrics`` histogram
by operation and outcome.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp

from k3s_daas.chain import queries
from k3s_daas.chain.enclave import EnclaveConfig, RegisteredEnclave, parse_enclave, parse_enclave_config
from k3s_daas.chain.errors import (
    ChainError,
    ChainMalformedAnswer,
    ChainNotFound,
    ChainQueryRejected,
    ChainTransientError,
)
from k3s_daas.chain.metrics import ChainMetrics
from k3s_daas.chain.models import (
    ChainEvent,
    Deployment,
    EventPage,
    SealToken,
    StakeEntry,
    StakeRecord,
    TokenEntry,
    as_address,
    as_mapping,
    field,
    parse_seal_token,
    parse_stake_entry,
    parse_stake_record,
    parse_token_entry,
)
from k3s_daas.chain.responses import StoredResponse, parse_stored_response
from k3s_daas.settings import ChainSettings

log = logging.getLogger(__name__)

BATCH_SIZE: Final = 50
"""Keys per multi-get and page size: within Sui's limits (50 per page, 50+ per multi-get)."""
ID_TYPE: Final = "0x2::object::ID"
_BACKOFF_BASE_S: Final = 0.2
_BACKOFF_CAP_S: Final = 5.0
# GraphQL error codes Sui's service uses for faults that retrying may fix.
_TRANSIENT_CODES: Final = frozenset({"INTERNAL_SERVER_ERROR", "REQUEST_TIMEOUT", "SERVICE_UNAVAILABLE"})

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


def _canonical(address: str) -> str:
    text = address.strip().lower()
    if not text.startswith("0x") or not 2 < len(text) <= 66 or any(c not in "0123456789abcdef" for c in text[2:]):
        raise ChainNotFound(f"{address!r} is not a Sui object id or address")
    return "0x" + text[2:].rjust(64, "0")


def _id_key(object_id: str) -> dict[str, str]:
    """The ``DynamicFieldName`` of a ``Table<ID, _>`` entry keyed by ``object_id``."""
    return {"type": ID_TYPE, "bcs": base64.b64encode(bytes.fromhex(object_id[2:])).decode()}


def build_pysui_client(url: str, timeout_s: float) -> Any:
    """pysui's ``GqlProtocolClient`` for ``url`` without touching ``~/.pysui`` (blocking)."""
    from pysui import PysuiConfiguration
    from pysui.sui.sui_common.config.confgroup import GroupProtocol, Profile, ProfileGroup
    from pysui.sui.sui_common.config.confmodel import PysuiConfigModel
    from pysui.sui.sui_pgql.pgql_clients import GqlProtocolClient

    group = ProfileGroup("k3s-daas", "chain", "", [], [], [], [Profile("chain", url)], GroupProtocol.GRAPHQL)
    model = PysuiConfigModel("1.2.0", "", "k3s-daas", [group])
    # pysui reads its configuration from a file; a private temporary one keeps the user's alone.
    with tempfile.TemporaryDirectory(prefix="k3s-daas-pysui-") as directory:
        Path(directory, "PysuiConfig.json").write_text(model.to_json(), encoding="utf-8")
        config = PysuiConfiguration(from_cfg_path=directory, group_name="k3s-daas", profile_name="chain")
        return GqlProtocolClient(pysui_config=config, timeout=timeout_s)


def _construction_error(url: str, error: Exception) -> ChainError:
    import httpx
    from gql.transport.exceptions import TransportConnectionFailed, TransportQueryError, TransportServerError

    if isinstance(error, httpx.TransportError | TimeoutError | TransportConnectionFailed):
        return ChainTransientError(f"cannot reach the Sui GraphQL endpoint {url}: {error!r}", operation="connect")
    if isinstance(error, TransportServerError) and (error.code is None or error.code >= 500 or error.code == 429):
        return ChainTransientError(f"{url} answered {error.code}: {error}", operation="connect")
    if isinstance(error, KeyError):
        return ChainMalformedAnswer(
            f"{url} is not a Sui GraphQL endpoint (no x-sui-rpc-version header)", operation="connect"
        )
    if isinstance(error, TransportQueryError):
        return ChainQueryRejected(f"{url} rejected pysui's startup query: {error}", operation="connect")
    return ChainMalformedAnswer(f"{url} is not a usable Sui GraphQL endpoint: {error!r}", operation="connect")


class ChainClient:
    """Typed reads of stakes, Seal tokens and package events."""

    def __init__(
        self,
        gql: Any,
        settings: ChainSettings,
        package_id: str,
        metrics: ChainMetrics,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._gql = gql
        self._settings = settings
        self.package_id = _canonical(package_id)
        self._metrics = metrics
        self._sleep = sleep
        self._deployment: Deployment | None = None

    @classmethod
    async def connect(
        cls,
        settings: ChainSettings,
        metrics: ChainMetrics | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> ChainClient:
        """Connect (off the event loop), retrying transient faults; find the package if unset."""
        metrics = metrics or ChainMetrics()
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                gql = await asyncio.wait_for(
                    asyncio.to_thread(build_pysui_client, settings.url, settings.timeout_s),
                    timeout=settings.timeout_s * 2 + 1,
                )
            except Exception as error:
                failure = _construction_error(settings.url, error)
                metrics.observe("connect", _outcome(failure), time.monotonic() - started)
                if not isinstance(failure, ChainTransientError) or attempt >= settings.retries:
                    raise failure from error
                await sleep(_backoff(attempt))
                attempt += 1
                continue
            metrics.observe("connect", "ok", time.monotonic() - started)
            break
        try:
            package_id = settings.package_id or await _localnet_package_id(settings)
        except BaseException:
            await gql.close()
            raise
        return cls(gql, settings, package_id, metrics, sleep=sleep)

    async def close(self) -> None:
        await self._gql.close()

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- requests ----------------------------------------------------------------------

    async def _query(
        self,
        operation: str,
        query: str,
        variables: Mapping[str, Any],
        parse: Callable[[Mapping[str, Any]], T],
    ) -> T:
        """One read: timed, bounded by the timeout, parsed, retried only on transient faults.

        Parsing runs inside the attempt, so a malformed answer is counted as such (and not retried).
        """
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self._settings.timeout_s):
                    data = await self._once(operation, query, variables)
                result = _parsed(operation, partial(parse, data))
            except TimeoutError:
                failure: ChainError = ChainTransientError(
                    f"{operation}: no answer from {self._settings.url} within {self._settings.timeout_s} s",
                    operation=operation,
                )
            except ChainError as error:
                failure = error
            else:
                self._metrics.observe(operation, "ok", time.monotonic() - started)
                return result
            self._metrics.observe(operation, _outcome(failure), time.monotonic() - started)
            if not isinstance(failure, ChainTransientError) or attempt >= self._settings.retries:
                raise failure
            delay = _backoff(attempt)
            log.info("chain %s failed (%s), retry %d in %.2f s", operation, failure, attempt + 1, delay)
            await self._sleep(delay)
            attempt += 1

    async def _pages(
        self,
        operation: str,
        query: str,
        variables: Mapping[str, Any],
        parse: Callable[[Mapping[str, Any]], tuple[T, str | None]],
    ) -> AsyncIterator[T]:
        """Every page of a cursor-paged query, in order: ``parse`` gives a page and the next cursor."""
        after: str | None = None
        while True:
            page, after = await self._query(operation, query, {**variables, "first": BATCH_SIZE, "after": after}, parse)
            yield page
            if after is None:
                return

    async def _once(self, operation: str, query: str, variables: Mapping[str, Any]) -> Mapping[str, Any]:
        from gql import GraphQLRequest
        from gql.transport.exceptions import (
            TransportClosed,
            TransportConnectionFailed,
            TransportError,
            TransportServerError,
        )

        request = GraphQLRequest(query, variable_values=dict(variables))
        try:
            result = await self._gql.execute_document_node(with_node=request, timeout=self._settings.timeout_s)
        except TransportServerError as error:
            if error.code is None or error.code >= 500 or error.code == 429:
                raise ChainTransientError(f"{operation}: endpoint answered {error.code}", operation=operation) from None
            raise ChainQueryRejected(
                f"{operation}: endpoint answered {error.code}: {error}", operation=operation
            ) from None
        except (TransportConnectionFailed, TransportClosed) as error:
            raise ChainTransientError(f"{operation}: connection failed: {error}", operation=operation) from None
        except TransportError as error:
            raise ChainMalformedAnswer(f"{operation}: not a GraphQL answer: {error}", operation=operation) from None
        if result.is_ok():
            if not isinstance(result.result_data, Mapping):
                raise ChainMalformedAnswer(f"{operation}: answer has no data", operation=operation)
            return result.result_data
        raise _result_error(operation, result.result_string, result.result_data)

    # --- deployment ----------------------------------------------------------------------

    async def chain_identifier(self) -> str:
        return await self._query("chain_identifier", queries.CHAIN_IDENTIFIER, {}, _chain_identifier)

    async def latest_checkpoint(self) -> int:
        op = "latest_checkpoint"
        return await self._query(op, queries.CHAIN_IDENTIFIER, {}, partial(_checkpoint, op=op))

    async def deployment(self) -> Deployment:
        """The package's shared StakingPool and Gateway and their tables (cached: they never move)."""
        if self._deployment is None:
            pool_type = f"{self.package_id}::staking::StakingPool"
            gateway_type = f"{self.package_id}::k8s_gateway::Gateway"
            variables = {"poolType": pool_type, "gatewayType": gateway_type}
            self._deployment = await self._query("deployment", queries.DEPLOYMENT, variables, self._parse_deployment)
        return self._deployment

    def _parse_deployment(self, data: Mapping[str, Any]) -> Deployment:
        op = "deployment"
        pool_id, pool = _single_shared(data, "pool", f"{self.package_id}::staking::StakingPool", op)
        gateway_id, gateway = _single_shared(data, "gateway", f"{self.package_id}::k8s_gateway::Gateway", op)
        return Deployment(
            chain_identifier=_chain_identifier(data),
            package_id=self.package_id,
            staking_pool_id=pool_id,
            stake_table_id=as_address(as_mapping(pool["entries"], "entries")["id"], "StakingPool.entries.id"),
            gateway_id=gateway_id,
            token_table_id=as_address(as_mapping(gateway["tokens"], "tokens")["id"], "Gateway.tokens.id"),
            response_table_id=as_address(as_mapping(gateway["responses"], "responses")["id"], "Gateway.responses.id"),
        )

    # --- stakes and tokens ---------------------------------------------------------------

    async def get_stake_record(self, object_id: str) -> StakeRecord:
        object_id = _canonical(object_id)
        found = await self.get_stake_records([object_id])
        if object_id not in found:
            raise ChainNotFound(f"no StakeRecord {object_id} of package {self.package_id}", operation="stake_records")
        return found[object_id]

    async def get_stake_records(self, object_ids: Sequence[str]) -> dict[str, StakeRecord]:
        """The records that exist among ``object_ids`` (deleted/foreign ones are left out)."""
        table = (await self.deployment()).stake_table_id
        expected = f"{self.package_id}::staking::StakeRecord"

        def build(
            version: int, contents: Mapping[str, object], entry: Mapping[str, object] | None, cp: int
        ) -> StakeRecord:
            return parse_stake_record(contents, version, None if entry is None else parse_stake_entry(entry), cp)

        records: dict[str, StakeRecord] = {}
        for batch in _batches([_canonical(i) for i in object_ids]):
            records.update(await self._objects_with_entries("stake_records", batch, table, expected, build))
        return records

    async def get_seal_token(self, object_id: str) -> SealToken:
        object_id = _canonical(object_id)
        found = await self.get_seal_tokens([object_id])
        if object_id not in found:
            raise ChainNotFound(f"no SealToken {object_id} of package {self.package_id}", operation="seal_tokens")
        return found[object_id]

    async def get_seal_tokens(self, object_ids: Sequence[str]) -> dict[str, SealToken]:
        """The tokens that exist among ``object_ids``, each with its gateway entry."""
        table = (await self.deployment()).token_table_id
        expected = f"{self.package_id}::k8s_gateway::SealToken"

        def build(
            version: int, contents: Mapping[str, object], entry: Mapping[str, object] | None, cp: int
        ) -> SealToken:
            return parse_seal_token(contents, version, None if entry is None else parse_token_entry(entry), cp)

        tokens: dict[str, SealToken] = {}
        for batch in _batches([_canonical(i) for i in object_ids]):
            tokens.update(await self._objects_with_entries("seal_tokens", batch, table, expected, build))
        return tokens

    async def stake_entry(self, record_id: str) -> StakeEntry | None:
        """Only the pool's entry of a stake (its record may be withdrawn, hence deleted)."""
        record_id = _canonical(record_id)
        table = (await self.deployment()).stake_table_id

        def build(_v: int, _c: Mapping[str, object], entry: Mapping[str, object] | None, _cp: int) -> StakeEntry | None:
            return None if entry is None else parse_stake_entry(entry)

        found = await self._objects_with_entries("stake_entry", [record_id], table, None, build)
        return found.get(record_id)

    async def token_entry(self, token_id: str) -> TokenEntry | None:
        token_id = _canonical(token_id)
        table = (await self.deployment()).token_table_id

        def build(_v: int, _c: Mapping[str, object], entry: Mapping[str, object] | None, _cp: int) -> TokenEntry | None:
            return None if entry is None else parse_token_entry(entry)

        found = await self._objects_with_entries("token_entry", [token_id], table, None, build)
        return found.get(token_id)

    async def all_stake_entries(self) -> dict[str, StakeEntry]:
        """Every stake's pool entry, by record id (a full resync; withdrawn stakes included)."""
        table = (await self.deployment()).stake_table_id
        return await self._table_entries("all_stake_entries", table, parse_stake_entry)

    async def all_token_entries(self) -> dict[str, TokenEntry]:
        """Every Seal token's gateway entry, by token id (a full resync)."""
        table = (await self.deployment()).token_table_id
        return await self._table_entries("all_token_entries", table, parse_token_entry)

    async def _table_entries(
        self, op: str, table: str, parse_entry: Callable[[Mapping[str, object]], T]
    ) -> dict[str, T]:
        def parse(data: Mapping[str, Any]) -> tuple[dict[str, T], str | None]:
            fields = _mapping(_mapping(data.get("address"), op, "address").get("dynamicFields"), op, "dynamicFields")
            page: dict[str, T] = {}
            for node in _list(fields.get("nodes"), op, "nodes"):
                key = as_address(_mapping(_mapping(node, op, "node").get("name"), op, "name").get("json"), "key")
                page[key] = parse_entry(_entry_value(node, op))
            info = _mapping(fields.get("pageInfo"), op, "pageInfo")
            after = info.get("endCursor") if info.get("hasNextPage") else None
            if info.get("hasNextPage") and not isinstance(after, str):
                raise ChainMalformedAnswer(f"{op}: hasNextPage without an endCursor", operation=op)
            return page, after if isinstance(after, str) else None

        entries: dict[str, T] = {}
        async for page in self._pages(op, queries.TABLE_ENTRIES, {"table": table}, parse):
            entries.update(page)
        return entries

    async def owned_stake_records(self, owner: str) -> list[StakeRecord]:
        ids = await self._owned_ids("owned_stake_records", owner, f"{self.package_id}::staking::StakeRecord")
        found = await self.get_stake_records(ids)
        return [found[i] for i in ids if i in found]

    async def owned_seal_tokens(self, owner: str) -> list[SealToken]:
        ids = await self._owned_ids("owned_seal_tokens", owner, f"{self.package_id}::k8s_gateway::SealToken")
        found = await self.get_seal_tokens(ids)
        return [found[i] for i in ids if i in found]

    async def _owned_ids(self, op: str, owner: str, type_: str) -> list[str]:
        ids: list[str] = []
        variables = {"owner": _canonical(owner), "type": type_}
        async for page in self._pages(op, queries.OWNED_OBJECTS, variables, partial(_owned_page, op=op)):
            ids.extend(page)
        return ids

    async def _objects_with_entries(
        self,
        op: str,
        ids: Sequence[str],
        table: str,
        expected_type: str | None,
        build: Callable[[int, Mapping[str, object], Mapping[str, object] | None, int], T | None],
    ) -> dict[str, T]:
        """Objects ``ids`` and their ``table`` entries in one read; ``expected_type`` None: entries only."""
        variables = {
            "keys": [{"address": i} for i in ids],
            "table": table,
            "entryKeys": [_id_key(i) for i in ids],
        }

        def parse(data: Mapping[str, Any]) -> dict[str, T]:
            checkpoint = _checkpoint(data, op)
            objects = _list(data.get("objects"), op, "objects")
            entries = _list(_mapping(data.get("table"), op, "table").get("entries"), op, "entries")
            if len(objects) != len(ids) or len(entries) != len(ids):
                raise ChainMalformedAnswer(f"{op}: multi-get answered a different number of items", operation=op)
            rows: dict[str, T] = {}
            for object_id, node, entry_node in zip(ids, objects, entries, strict=True):
                entry = None if entry_node is None else _entry_value(entry_node, op)
                found = _typed_contents(node, expected_type, op) if expected_type is not None else (0, {})
                if found is None:
                    continue
                built = build(found[0], found[1], entry, checkpoint)
                if built is not None:
                    rows[object_id] = built
            return rows

        return await self._query(op, queries.OBJECTS_WITH_ENTRIES, variables, parse)

    async def response(self, request_id: int) -> StoredResponse | None:
        """The Gateway's stored response to ``request_id`` (on-chain request mode), None while there is none."""
        op = "response"
        table = (await self.deployment()).response_table_id
        name = {"type": "u64", "bcs": base64.b64encode(request_id.to_bytes(8, "little")).decode()}

        def parse(data: Mapping[str, Any]) -> StoredResponse | None:
            checkpoint = _checkpoint(data, op)
            found = _mapping(data.get("address"), op, "address").get("dynamicField")
            if found is None:
                return None
            return parse_stored_response(_entry_value(found, op), checkpoint)

        return await self._query(op, queries.TABLE_ENTRY, {"table": table, "name": name}, parse)

    # --- the enclave module ----------------------------------------------------------------

    async def enclave_config(self) -> EnclaveConfig:
        """The package's shared ``EnclaveConfig``: the expected PCRs and the configuration version."""
        op = "enclave_config"
        type_ = f"{self.package_id}::enclave::EnclaveConfig"

        def parse(data: Mapping[str, Any]) -> EnclaveConfig:
            checkpoint = _checkpoint(data, op)
            nodes, _ = _objects_page(data, op)
            found = [contents for contents in (_typed_contents(node, type_, op) for node in nodes) if contents]
            if not found:
                raise ChainNotFound(
                    f"no {type_} on chain: is the package id right, and published with the enclave module?",
                    operation=op,
                )
            if len(found) > 1:
                raise ChainMalformedAnswer(f"more than one {type_} on chain", operation=op)
            ((version, contents),) = found
            return parse_enclave_config(contents, version, checkpoint)

        return await self._query(op, queries.OBJECTS_OF_TYPE, {"type": type_, "first": 2, "after": None}, parse)

    async def enclaves(self) -> list[RegisteredEnclave]:
        """Every registered ``Enclave``, current or outdated (they are never deleted), in id order."""
        op = "enclaves"
        type_ = f"{self.package_id}::enclave::Enclave"

        def parse(data: Mapping[str, Any]) -> tuple[list[RegisteredEnclave], str | None]:
            checkpoint = _checkpoint(data, op)
            nodes, after = _objects_page(data, op)
            typed = (_typed_contents(node, type_, op) for node in nodes)
            return [parse_enclave(found[1], checkpoint) for found in typed if found is not None], after

        enclaves: list[RegisteredEnclave] = []
        async for page in self._pages(op, queries.OBJECTS_OF_TYPE, {"type": type_}, parse):
            enclaves.extend(page)
        return enclaves

    # --- events --------------------------------------------------------------------------

    async def events(
        self, after: str | None = None, *, limit: int = BATCH_SIZE, event_type: str | None = None
    ) -> EventPage:
        """Events of the package (or of ``event_type``), in chain order, after ``after``.

        Persist ``page.cursor`` and pass it back to resume without gaps or duplicates.
        """
        op = "events"
        limit = max(1, min(limit, BATCH_SIZE))
        variables = {"first": limit, "after": after, "filter": {"type": event_type or self.package_id}}

        def parse(data: Mapping[str, Any]) -> EventPage:
            checkpoint = _checkpoint(data, op)
            connection = _mapping(data.get("events"), op, "events")
            events = tuple(_event(edge) for edge in _list(connection.get("edges"), op, "edges"))
            page = _mapping(connection.get("pageInfo"), op, "pageInfo")
            cursor = events[-1].cursor if events else after
            return EventPage(events, cursor, bool(page.get("hasNextPage")), checkpoint)

        return await self._query(op, queries.EVENTS, variables, parse)


# --- helpers --------------------------------------------------------------------------------


def _outcome(error: ChainError) -> str:
    if isinstance(error, ChainNotFound):
        return "not_found"
    if isinstance(error, ChainTransientError):
        return "transient"
    if isinstance(error, ChainQueryRejected):
        return "rejected"
    return "malformed"


def _backoff(attempt: int) -> float:
    # Full exponential growth with jitter, so clients restarted together do not retry in step.
    ceiling = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * float(2**attempt))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def _result_error(operation: str, kind: str, data: Any) -> ChainError:
    if kind.startswith("HTTPX error"):
        return ChainTransientError(f"{operation}: {kind}", operation=operation)
    if kind == "TransportQueryError":
        errors = getattr(data, "errors", None) or []
        messages = [e.get("message", str(e)) if isinstance(e, Mapping) else str(e) for e in errors]
        codes = {e.get("extensions", {}).get("code") for e in errors if isinstance(e, Mapping)}
        text = "; ".join(messages) or "unknown error"
        if codes & _TRANSIENT_CODES:
            return ChainTransientError(f"{operation}: {text}", operation=operation)
        return ChainQueryRejected(f"{operation}: the endpoint rejected the query: {text}", operation=operation)
    return ChainMalformedAnswer(f"{operation}: {kind}: {data!r}"[:500], operation=operation)


def _batches(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + BATCH_SIZE] for i in range(0, len(unique), BATCH_SIZE)]


def _parsed(op: str, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except ChainMalformedAnswer as error:
        raise ChainMalformedAnswer(f"{op}: {error}", operation=op) from None
    except (KeyError, TypeError, ValueError) as error:
        raise ChainMalformedAnswer(f"{op}: unexpected answer shape: {error!r}", operation=op) from None


def _mapping(value: object, op: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ChainMalformedAnswer(f"{op}: {what} is {value!r}, expected an object", operation=op)
    return value


def _list(value: object, op: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ChainMalformedAnswer(f"{op}: {what} is {value!r}, expected a list", operation=op)
    return value


def _checkpoint(data: Mapping[str, Any], op: str) -> int:
    sequence = _mapping(data.get("checkpoint"), op, "checkpoint").get("sequenceNumber")
    if isinstance(sequence, bool) or not isinstance(sequence, int):
        raise ChainMalformedAnswer(f"{op}: checkpoint sequence number {sequence!r}", operation=op)
    return sequence


def _entry_value(node: object, op: str) -> Mapping[str, object]:
    value = _mapping(_mapping(node, op, "dynamic field").get("value"), op, "dynamic field value")
    return _mapping(value.get("json"), op, "dynamic field value json")


def _single_shared(data: Mapping[str, Any], key: str, type_: str, op: str) -> tuple[str, Mapping[str, Any]]:
    nodes = _list(_mapping(data.get(key), op, key).get("nodes"), op, f"{key}.nodes")
    if not nodes:
        raise ChainNotFound(f"no {type_} on chain: is the package id right and published?", operation=op)
    if len(nodes) > 1:
        raise ChainMalformedAnswer(f"more than one {type_} on chain", operation=op)
    node = _mapping(nodes[0], op, key)
    contents = _mapping(_mapping(node.get("asMoveObject"), op, "asMoveObject").get("contents"), op, "contents")
    return as_address(node.get("address"), f"{key}.address"), _mapping(contents.get("json"), op, "json")


def _chain_identifier(data: Mapping[str, Any]) -> str:
    value = data.get("chainIdentifier")
    if not isinstance(value, str):
        raise ChainMalformedAnswer(f"chainIdentifier is {value!r}, not a string")
    return value


def _owned_page(data: Mapping[str, Any], op: str) -> tuple[list[str], str | None]:
    """The ids of one page of owned objects, and the cursor of the next page (None: last)."""
    connection = _mapping(data.get("objects"), op, "objects")
    ids = [
        as_address(as_mapping(node, "node")["address"], "address")
        for node in _list(connection.get("nodes"), op, "nodes")
    ]
    page = _mapping(connection.get("pageInfo"), op, "pageInfo")
    if not page.get("hasNextPage"):
        return ids, None
    after = page.get("endCursor")
    if not isinstance(after, str):
        raise ChainMalformedAnswer(f"{op}: hasNextPage without an endCursor", operation=op)
    return ids, after


def _objects_page(data: Mapping[str, Any], op: str) -> tuple[list[Any], str | None]:
    """The nodes of one ``objects`` page, and the cursor of the next page (None: last)."""
    connection = _mapping(data.get("objects"), op, "objects")
    nodes = _list(connection.get("nodes"), op, "nodes")
    page = _mapping(connection.get("pageInfo"), op, "pageInfo")
    if not page.get("hasNextPage"):
        return nodes, None
    after = page.get("endCursor")
    if not isinstance(after, str):
        raise ChainMalformedAnswer(f"{op}: hasNextPage without an endCursor", operation=op)
    return nodes, after


def _typed_contents(node: object, expected_type: str, op: str) -> tuple[int, Mapping[str, object]] | None:
    """(version, Move JSON) of an object of ``expected_type``; None if absent or of another type."""
    if node is None:
        return None
    move = _mapping(node, op, "object").get("asMoveObject")
    if move is None:
        return None  # a package, not a Move object
    contents = _mapping(_mapping(move, op, "asMoveObject").get("contents"), op, "contents")
    if _mapping(contents.get("type"), op, "type").get("repr") != expected_type:
        return None
    version = _mapping(node, op, "object").get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ChainMalformedAnswer(f"{op}: object version {version!r}", operation=op)
    return version, _mapping(contents.get("json"), op, "json")


def _timestamp_ms(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ChainMalformedAnswer(f"malformed timestamp {value!r}")
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        raise ChainMalformedAnswer(f"malformed timestamp {value!r}") from None


def _event(edge: Mapping[str, Any]) -> ChainEvent:
    node = as_mapping(field(edge, "node", "event edge"), "event")
    contents = as_mapping(field(node, "contents", "event"), "event contents")
    type_repr = as_mapping(field(contents, "type", "event contents"), "event type")["repr"]
    if not isinstance(type_repr, str) or type_repr.count("::") != 2:
        raise ChainMalformedAnswer(f"malformed event type {type_repr!r}")
    package, module, name = type_repr.split("::")
    transaction = node.get("transaction")
    checkpoint = None
    digest = None
    if isinstance(transaction, Mapping):
        digest = transaction.get("digest")
        effects = transaction.get("effects")
        if isinstance(effects, Mapping) and isinstance(effects.get("checkpoint"), Mapping):
            checkpoint = effects["checkpoint"].get("sequenceNumber")
    sender = node.get("sender")
    cursor = edge.get("cursor")
    sequence = node.get("sequenceNumber")
    if not isinstance(cursor, str) or isinstance(sequence, bool) or not isinstance(sequence, int):
        raise ChainMalformedAnswer("event edge without cursor or sequence number")
    return ChainEvent(
        type=type_repr,
        module=module,
        name=name,
        package_id=package,
        fields=as_mapping(field(contents, "json", "event contents"), "event json"),
        cursor=cursor,
        checkpoint=checkpoint if isinstance(checkpoint, int) else None,
        timestamp_ms=_timestamp_ms(node.get("timestamp")),
        sender=sender.get("address") if isinstance(sender, Mapping) else None,
        transaction_digest=digest if isinstance(digest, str) else None,
        sequence_number=sequence,
    )


async def _localnet_package_id(settings: ChainSettings) -> str:
    """Ask a localnet endpoint which package it published (a real network has no such thing)."""
    base = settings.url.removesuffix("/").removesuffix("/graphql")
    url = f"{base}/localnet/v1/info"
    try:
        timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            if response.status != 200:
                raise ChainNotFound(
                    f"no package id configured (K3S_DAAS_PACKAGE_ID) and {url} answered {response.status}: "
                    "only a localnet can name its package",
                    operation="package_id",
                )
            body = json.loads(await response.text())
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise ChainTransientError(f"cannot ask {url} for the package id: {error!r}", operation="package_id") from None
    package = body.get("packageId") if isinstance(body, dict) else None
    if not isinstance(package, str):
        raise ChainMalformedAnswer(f"{url} named no packageId", operation="package_id")
    return package
