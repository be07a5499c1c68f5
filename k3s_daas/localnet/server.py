"""Localnet over HTTP: Sui's GraphQL at ``/graphql`` plus localnet-only write endpoints.

``/graphql`` (POST JSON, or GET ``?query=``) answers the schema subset of ``schema.py``;
``/localnet/v1/execute`` takes a signed entry-function call (``protocol.py``);
``/localnet/v1/info`` names the chain, the package and its shared objects;
``/localnet/v1/clock`` moves the chain clock forward (only when enabled, for tests);
``/healthz`` answers ``ok``. Every response carries ``x-sui-rpc-version`` like Sui's service.

SQLite work runs in worker threads; each GraphQL request reads one consistent snapshot.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute_sync,
    parse,
    validate,
)

from k3s_daas.errors import UserError
from k3s_daas.localnet.clock import Clock, wall_clock_ms
from k3s_daas.localnet.protocol import BadRequest, SignedCall, verify_call
from k3s_daas.localnet.report import transaction_report
from k3s_daas.localnet.resolvers import SERVICE_CONFIG, build_localnet_schema
from k3s_daas.localnet.schema import RPC_VERSION
from k3s_daas.localnet.state import InvalidTransaction, MoveAbort
from k3s_daas.localnet.store import ReplayedCall, Store

log = logging.getLogger(__name__)

RPC_VERSION_HEADER: Final = "x-sui-rpc-version"
MAX_BODY_BYTES: Final = 1_048_576


@dataclass(frozen=True)
class LocalnetApp:
    """The server's dependencies: the store, the chain clock, and whether tests may move it."""

    store: Store
    clock: Clock = wall_clock_ms
    """The chain clock before the stored offset (tests inject a fixed or stepping clock)."""
    wall_clock: Clock = wall_clock_ms
    """The clock signed requests are dated against."""
    allow_clock_control: bool = False
    schema: GraphQLSchema = field(default_factory=build_localnet_schema, repr=False)

    def now_ms(self) -> int:
        return self.clock() + self.store.clock_offset_ms()

    def build(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.on_response_prepare.append(_add_version_header)
        app.router.add_post("/graphql", self._graphql)
        app.router.add_get("/graphql", self._graphql)
        app.router.add_post("/localnet/v1/execute", self._execute)
        app.router.add_get("/localnet/v1/info", self._info)
        app.router.add_post("/localnet/v1/clock", self._clock)
        app.router.add_get("/healthz", self._healthz)
        return app

    # GraphQL

    async def _graphql(self, request: web.Request) -> web.Response:
        try:
            query, variables, operation = await _graphql_request(request)
        except _HttpError as error:
            return _graphql_error_response(error.status, error.message, "BAD_REQUEST")
        result = await asyncio.to_thread(self.run_graphql, query, variables, operation)
        return web.json_response(result)

    def run_graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, operation: str | None = None
    ) -> dict[str, Any]:
        try:
            document = parse(query)
        except GraphQLError as error:
            return {"errors": [_formatted(error, "GRAPHQL_PARSE_FAILED")]}
        errors = validate(self.schema, document)
        if errors:
            return {"errors": [_formatted(error, "GRAPHQL_VALIDATION_FAILED") for error in errors]}
        limit = _check_limits(document)
        if limit is not None:
            return {"errors": [_formatted(GraphQLError(limit), "BAD_USER_INPUT")]}
        with self.store.read() as view:
            result = execute_sync(
                self.schema,
                document,
                variable_values=None if variables is None else dict(variables),
                operation_name=operation,
                context_value={"view": view},
            )
        output: dict[str, Any] = {"data": result.data}
        if result.errors:
            output["errors"] = [_execution_error(error) for error in result.errors]
        return output

    # localnet-only endpoints

    async def _execute(self, request: web.Request) -> web.Response:
        try:
            body = await _json_body(request)
            message_b64, signature = body.get("message"), body.get("signature")
            if not isinstance(message_b64, str) or not isinstance(signature, str):
                raise _HttpError(400, 'expected {"message": <base64>, "signature": <base64>}')
            try:
                message = base64.b64decode(message_b64, validate=True)
            except (binascii.Error, ValueError):
                raise _HttpError(400, "message is not base64") from None
        except _HttpError as error:
            return _error_response(error.status, "BadRequest", error.message)
        try:
            report = await asyncio.to_thread(self._commit, SignedCall(message, signature))
        except BadRequest as error:
            return _error_response(401 if "signature" in str(error) else 400, "BadRequest", str(error))
        except ReplayedCall as error:
            return _error_response(409, "Replayed", str(error))
        except MoveAbort as error:
            return _error_response(
                422,
                "MoveAbort",
                str(error),
                module=error.abort.module,
                function=error.function,
                abortCode=error.abort.code,
                abortName=error.abort.name,
            )
        except InvalidTransaction as error:
            return _error_response(400, "InvalidTransaction", str(error))
        except UserError as error:
            return _error_response(400, "BadRequest", str(error))
        return web.json_response(report)

    def _commit(self, signed: SignedCall) -> dict[str, object]:
        info = self.store.info()
        verified = verify_call(signed, info.chain_identifier, self.wall_clock())
        committed = self.store.execute(
            verified.call,
            verified.sender,
            self.now_ms(),
            message=verified.message,
            signature=verified.signature,
        )
        return transaction_report(committed, info.deployment.package.package_id)

    async def _info(self, _request: web.Request) -> web.Response:
        info = await asyncio.to_thread(self.store.info)
        now = await asyncio.to_thread(self.now_ms)
        deployment = info.deployment
        return web.json_response(
            {
                "chainIdentifier": info.chain_identifier,
                "packageId": deployment.package.package_id,
                "stakingPoolId": deployment.pool_id,
                "gatewayId": deployment.gateway_id,
                "enclaveConfigId": deployment.enclave_config_id,
                "admin": deployment.admin,
                "clockMs": now,
                "clockControl": self.allow_clock_control,
            }
        )

    async def _clock(self, request: web.Request) -> web.Response:
        if not self.allow_clock_control:
            return _error_response(
                403, "Forbidden", "clock control is off: start the server with --allow-clock-control"
            )
        try:
            body = await _json_body(request)
        except _HttpError as error:
            return _error_response(error.status, "BadRequest", error.message)
        advance = body.get("advanceMs")
        if isinstance(advance, bool) or not isinstance(advance, int) or advance < 0:
            return _error_response(400, "BadRequest", 'expected {"advanceMs": <non-negative integer>}')
        offset = await asyncio.to_thread(self.store.advance_clock, advance)
        now = await asyncio.to_thread(self.now_ms)
        return web.json_response({"clockMs": now, "offsetMs": offset})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _add_version_header(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers[RPC_VERSION_HEADER] = RPC_VERSION


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply
        raise _HttpError(400, "request body is not JSON") from None
    if not isinstance(body, dict):
        raise _HttpError(400, "request body must be a JSON object")
    return body


async def _graphql_request(request: web.Request) -> tuple[str, dict[str, Any] | None, str | None]:
    if request.method == "GET":
        source: Mapping[str, Any] = dict(request.query)
        raw_variables = source.get("variables")
        try:
            variables = json.loads(raw_variables) if raw_variables else None
        except (ValueError, RecursionError):
            raise _HttpError(400, "variables is not JSON") from None
    else:
        source = await _json_body(request)
        variables = source.get("variables")
    query, operation = source.get("query"), source.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise _HttpError(400, 'a GraphQL request needs a "query" string')
    if variables is not None and not isinstance(variables, dict):
        raise _HttpError(400, '"variables" must be a JSON object')
    if operation is not None and not isinstance(operation, str):
        raise _HttpError(400, '"operationName" must be a string')
    return query, variables, operation


def _formatted(error: GraphQLError, code: str) -> dict[str, Any]:
    formatted = dict(error.formatted)
    formatted["extensions"] = {**(error.extensions or {}), "code": code}
    return formatted


def _execution_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        code = (error.extensions or {}).get("code", "BAD_USER_INPUT")
        return _formatted(error, str(code))
    log.error("localnet resolver failed: %r", original, exc_info=original)
    internal = GraphQLError(
        f"Internal error occurred while processing request: {type(original).__name__}",
        path=error.path,
    )
    return _formatted(internal, "INTERNAL_SERVER_ERROR")


def _graphql_error_response(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"errors": [{"message": message, "extensions": {"code": code}}]}, status=status)


def _error_response(status: int, kind: str, message: str, **details: object) -> web.Response:
    return web.json_response({"error": {"kind": kind, "message": message, **details}}, status=status)


def _check_limits(document: DocumentNode) -> str | None:
    """Sui's query depth and node limits (fragments expanded for depth, counted once for nodes)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    nodes = 0

    def count(selection_set: SelectionSetNode | None) -> None:
        nonlocal nodes
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                nodes += 1
            if isinstance(selection, FieldNode | InlineFragmentNode):
                count(selection.selection_set)

    def depth(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
        deepest = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                below = 1 + depth(selection.selection_set, seen) if selection.selection_set else 1
            elif isinstance(selection, InlineFragmentNode):
                below = depth(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = fragments.get(selection.name.value)
                below = 0 if fragment is None else depth(fragment.selection_set, seen | {selection.name.value})
            else:
                below = 0
            deepest = max(deepest, below)
        return deepest

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            count(definition.selection_set)
    if nodes > SERVICE_CONFIG["maxQueryNodes"]:
        return f"Query has too many nodes ({nodes}); the maximum is {SERVICE_CONFIG['maxQueryNodes']}"
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            found = depth(definition.selection_set, frozenset())
            if found > SERVICE_CONFIG["maxQueryDepth"]:
                return f"Query nesting is {found} deep; the maximum is {SERVICE_CONFIG['maxQueryDepth']}"
    return None


# --- running it ---------------------------------------------------------------------------


class BackgroundServer:
    """Runs a localnet app on its own event loop in a daemon thread (tests, embedding)."""

    def __init__(self, app: LocalnetApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="localnet", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def start(self) -> BackgroundServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._app.build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Stop serving and end the thread; stopping twice is harmless."""
        if self._loop.is_closed():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    @contextmanager
    def running(self) -> Iterator[BackgroundServer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
