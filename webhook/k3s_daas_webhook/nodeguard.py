"""The node guard's list of admitted Node names, compiled into the ValidatingAdmissionPolicy.

A ValidatingAdmissionPolicy runs inside the API server, so it fails closed even when this webhook is
down; but CEL cannot look objects up. The list of Node names whose StakedNode is Active (plus the
configured static nodes) is therefore written into the policy itself, as the CEL list literal of its
variable ``admitted`` (manifests/41-node-guard-policy.yaml). Not as a ConfigMap parameter: a
core-type ``paramKind`` informer stops for good, per API server process, once no binding names it
(kubernetes/kubernetes#130887), after which the policy silently validates against a frozen copy.

The StakedNode watch calls ``notify``; the publisher writes only after the first complete list (an
empty list written at start-up would refuse every node), only when the list differs, and re-checks
the policy on a timer (someone may have re-created it from the manifest, with an empty list).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterable
from typing import Any, Final

from k3s_daas_webhook.kube import ApiError, KubeClient
from k3s_daas_webhook.metrics import WebhookMetrics
from k3s_daas_webhook.snapshots import SnapshotHolder
from k3s_daas_webhook.stakednodes import NodeSnapshot

log = logging.getLogger(__name__)

POLICIES_PATH: Final = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/"
VARIABLE: Final = "admitted"
# CEL refuses expressions longer than 100,000 code points: about 5,000 node names of 15 characters.
MAX_EXPRESSION: Final = 100_000
_NODE_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_COALESCE_S: Final = 0.05
_RESYNC_S: Final = 10.0
_MAX_BACKOFF_S: Final = 30.0


class TooManyNodes(ValueError):
    """The list does not fit one CEL expression."""


def admitted_nodes(nodes: NodeSnapshot, static_nodes: Iterable[str]) -> list[str]:
    """Node names the policy admits: those with an Active StakedNode, and the static ones."""
    names = set(nodes.active_nodes()) | set(static_nodes)
    # Node names are DNS subdomains; anything else (a schema bypassed) cannot be a Node, and must
    # never reach a CEL literal.
    return sorted(name for name in names if _NODE_NAME.fullmatch(name))


def cel_list(names: list[str]) -> str:
    """``['a', 'b']``; every name is a DNS subdomain, so no quoting is needed."""
    if not all(_NODE_NAME.fullmatch(name) for name in names):
        raise ValueError("only Node names go into the node guard's list")
    expression = "[" + ", ".join(f"'{name}'" for name in names) + "]"
    if len(expression) > MAX_EXPRESSION:
        raise TooManyNodes(f"{len(names)} node names make a {len(expression)}-character list; CEL's limit is 100,000")
    return expression


def with_admitted(policy: dict[str, Any], expression: str) -> dict[str, Any] | None:
    """``policy`` with its ``admitted`` variable set to ``expression``; None when it is already that.

    A policy without the variable is not ours to rewrite: ValueError.
    """
    variables = (policy.get("spec") or {}).get("variables")
    if not isinstance(variables, list):
        raise ValueError("the policy has no spec.variables")
    for variable in variables:
        if isinstance(variable, dict) and variable.get("name") == VARIABLE:
            if variable.get("expression") == expression:
                return None
            variable["expression"] = expression
            return policy
    raise ValueError(f"the policy has no variable {VARIABLE!r}")


class NodeGuardPublisher:
    def __init__(
        self,
        client: KubeClient,
        policy_name: str,
        holder: SnapshotHolder[NodeSnapshot],
        static_nodes: frozenset[str],
        metrics: WebhookMetrics,
    ) -> None:
        self._client = client
        self._path = POLICIES_PATH + policy_name
        self._name = policy_name
        self._holder = holder
        self._static = static_nodes
        self._metrics = metrics
        self._changed = asyncio.Event()

    def notify(self, snapshot: NodeSnapshot) -> None:
        self._changed.set()

    async def run(self) -> None:
        backoff = 0.5
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), _RESYNC_S)
            self._changed.clear()
            if not self._holder.synced:
                continue
            await asyncio.sleep(_COALESCE_S)  # one write for a burst of StakedNode events
            try:
                await self._publish(admitted_nodes(self._holder.snapshot, self._static))
                backoff = 0.5
            except (ApiError, ValueError) as error:
                self._metrics.node_guard_writes.labels("error").inc()
                log.warning("node guard policy %s not updated, retrying in %.1f s: %s", self._name, backoff, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                self._changed.set()

    async def _publish(self, names: list[str]) -> None:
        try:
            policy = await self._client.get(self._path)
        except ApiError as error:
            if error.status == 404:
                log.debug("node guard policy %s is not installed: nothing to update", self._name)
                return
            raise
        updated = with_admitted(policy, cel_list(names))
        if updated is None:
            return
        # The object read carries its resourceVersion: a concurrent write answers 409, and the loop
        # tries again with a fresh read.
        await self._client.send("PUT", self._path, updated)
        self._metrics.node_guard_writes.labels("updated").inc()
        log.info("node guard policy %s updated: %d admitted nodes", self._name, len(names))
