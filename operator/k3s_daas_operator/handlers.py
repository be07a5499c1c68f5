"""The kopf side: an explicit registry whose handlers only feed the engine.

kopf provides the operator's settings, credentials (login, re-login on 401) and the Node watch;
decisions and writes are the engine's. Only ``on.event`` handlers are used, so kopf adds no
finalizers, annotations or progress records to the objects. SealTokens and StakedNodes are
watched by the engine itself (collection_watch: kopf's per-object processing of the echoes of
ten thousand status writes cost more CPU than the writes). kopf runs on its own event loop in a
thread (runtime.py); the handler is a coroutine (a plain function would cost a thread-pool hop
per event) that hands each event to the engine's loop with ``call_soon_threadsafe``, which keeps
their order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from k3s_daas_operator import names
from k3s_daas_operator.engine import Engine
from k3s_daas_operator.kube import Connection


def build_registry(
    engine: Engine, connection: Connection, engine_loop: asyncio.AbstractEventLoop
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    def deliver(observe: Callable[[str | None, Mapping[str, Any]], None], event: kopf.RawEvent) -> None:
        engine_loop.call_soon_threadsafe(observe, event.get("type"), event["object"])

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # kopf runs only in the instance holding the leader Lease (leader.py; docs/replicas.md): kopf's own
        # peering would neither stop same-priority peers nor the engine, so it stays off (no CRD, no RBAC).
        settings.peering.standalone = True
        # Resources are discovered once at start: no list/watch of CRDs and namespaces needed.
        settings.scanning.disabled = True
        # The engine posts its own Events; kopf only reports its own failures.
        settings.posting.level = logging.WARNING
        settings.watching.connect_timeout = 10
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # Called again by kopf when the API server answers 401: a fresh token each time.
        token = connection.current_token()
        return kopf.ConnectionInfo(
            server=connection.server,
            ca_path=connection.ca_file,
            insecure=not connection.verify,
            scheme="Bearer" if token else None,
            token=token,
            certificate_path=connection.cert_file,
            private_key_path=connection.key_file,
            default_namespace=names.EVENTS_NAMESPACE,
        )

    @kopf.on.event("", "v1", "nodes", registry=registry)
    async def node_event(event: kopf.RawEvent, **_: Any) -> None:
        deliver(engine.observe_node, event)

    return registry
