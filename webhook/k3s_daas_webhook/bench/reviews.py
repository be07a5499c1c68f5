"""The admission benchmark's world and traffic: SealTokens, StakedNodes and Namespaces of a busy
cluster, and AdmissionReviews shaped like the API server's (objects and old objects included)."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from k3s_daas_webhook.bench.tokens import sealtoken_resource

USERS = 64
SHORT_USERS = 8  # slashed below the minimum: their writes are denied by the stake rule
FILLER_TOKENS = 10_000
NODES = 1_000
NAMESPACES = 200
PERMISSIONS = ["configmaps:write", "pods:read", "deployments.apps:write", "services:write"]
SLASHED_EVERY = 10  # one StakedNode in ten is Slashed


@dataclass
class World:
    users: list[str]
    short_users: list[str]
    sealtokens: list[dict[str, Any]]
    stakednodes: list[dict[str, Any]]
    namespaces: list[dict[str, Any]]


def _address() -> str:
    return "0x" + os.urandom(32).hex()


def world() -> World:
    expires = time.time() + 86400
    users = [_address() for _ in range(USERS)]
    short = [_address() for _ in range(SHORT_USERS)]
    tokens: list[dict[str, Any]] = []
    for index, owner in enumerate(users + short):
        resource = sealtoken_resource(f"user-{index}", owner, expires)
        resource["status"].update(permissions=PERMISSIONS, stakeRecord=_address(), stakeMist="600000000")
        if owner in short:
            resource["status"].update(phase="InsufficientStake", stakeMist="300000000")
        tokens.append(resource)
    tokens += [sealtoken_resource(f"filler-{index}", _address(), expires) for index in range(FILLER_TOKENS)]
    nodes = [
        {
            "metadata": {"name": f"node-{index}"},
            "spec": {"nodeName": f"worker-{index}", "owner": _address(), "stakeRecord": _address()},
            "status": {"phase": "Slashed" if index % SLASHED_EVERY == 0 else "Active"},
        }
        for index in range(NODES)
    ]
    namespaces = [
        {"metadata": {"name": f"team-{index}", "annotations": {"k3s-daas.io/owner": users[index % USERS]}}}
        for index in range(NAMESPACES)
    ]
    return World(users, short, tokens, nodes, namespaces)


def _review(
    user: dict[str, Any],
    operation: str,
    group: str,
    resource: str,
    kind: str,
    name: str,
    namespace: str,
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None = None,
    *,
    subresource: str = "",
    options: str = "CreateOptions",
) -> bytes:
    version = "v1"
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": name,
        "operation": operation,
        "userInfo": user,
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"kind": options, "apiVersion": "meta.k8s.io/v1"},
    }
    if namespace:
        request["namespace"] = namespace
    if subresource:
        request["subResource"] = subresource
    review = {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request}
    return json.dumps(review, separators=(",", ":")).encode()


def _seal_user(address: str) -> dict[str, Any]:
    return {
        "username": f"sui:{address}",
        "uid": f"sui:{address}",
        "groups": ["k3s-daas:stakers", "k3s-daas:role:user", "system:authenticated"],
        "extra": {"k3s-daas.io/seal-token": ["0x" + "00" * 32], "k3s-daas.io/stake-mist": ["600000000"]},
    }


def _configmap(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": "2026-11-21T10:00:00Z",
            "labels": {"app": name, "tier": "web"},
            "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1"}],
        },
        "data": {f"key-{index}": "x" * 40 for index in range(12)},
    }


def _deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    container = {
        "name": "web",
        "image": "registry.example/web:1.2.3",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        "env": [{"name": f"VAR_{index}", "value": "v" * 16} for index in range(8)],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "generation": 3},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
        "status": {"replicas": 2, "readyReplicas": 2},
    }


def _node(name: str) -> dict[str, Any]:
    conditions = [
        {"type": kind, "status": "False", "reason": f"Kubelet{kind}", "lastHeartbeatTime": "2026-11-21T10:00:00Z"}
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
    ] + [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "2026-11-21T10:00:00Z"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": "10.42.3.0/24"},
        "status": {
            "conditions": conditions,
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "nodeInfo": {"kubeletVersion": "v1.35.4+k3s1", "osImage": "Debian GNU/Linux 13"},
        },
    }


def traffic(world: World, count: int, seed: int = 7) -> list[bytes]:
    """``count`` reviews in a fixed mix (shares below), each with its own uid."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    bodies: list[bytes] = []
    for index in range(count):
        user = rng.choice(world.users)
        draw = rng.random()
        if draw < 0.45:  # create a ConfigMap in an unowned namespace: allowed
            name = f"cm-{index}"
            bodies.append(
                _review(
                    _seal_user(user),
                    "CREATE",
                    "",
                    "configmaps",
                    "ConfigMap",
                    name,
                    "default",
                    _configmap(name, "default"),
                )
            )
        elif draw < 0.60:  # kubectl apply/patch of a Deployment: allowed (patch)
            new, old = _deployment("web", "default", 3), _deployment("web", "default", 2)
            bodies.append(
                _review(_seal_user(user), "UPDATE", "apps", "deployments", "Deployment", "web", "default", new, old,
                        options="PatchOptions")
            )  # fmt: skip
        elif draw < 0.70:  # a Secret: not granted to a user stake -> denied (permission)
            bodies.append(
                _review(
                    _seal_user(user), "CREATE", "", "secrets", "Secret", f"s-{index}", "default", {"kind": "Secret"}
                )
            )
        elif draw < 0.78:  # a slashed user -> denied (stake)
            short = rng.choice(world.short_users)
            bodies.append(
                _review(
                    _seal_user(short),
                    "CREATE",
                    "",
                    "configmaps",
                    "ConfigMap",
                    "cm",
                    "default",
                    _configmap("cm", "default"),
                )
            )
        elif draw < 0.95:  # a kubelet's status update; one node in ten is slashed -> denied (node)
            node = f"worker-{rng.randrange(NODES)}"
            kubelet = {"username": f"system:node:{node}", "groups": ["system:nodes", "system:authenticated"]}
            bodies.append(
                _review(kubelet, "UPDATE", "", "nodes", "Node", node, "", _node(node), _node(node),
                        subresource="status", options="PatchOptions")
            )  # fmt: skip
        else:  # a user creating its own SealToken: allowed (self-service)
            token = {"apiVersion": "k3s-daas.io/v1alpha1", "kind": "SealToken", "metadata": {"name": f"t-{index}"},
                     "spec": {"owner": user, "tokenObject": _address()}}  # fmt: skip
            bodies.append(
                _review(_seal_user(user), "CREATE", "k3s-daas.io", "sealtokens", "SealToken", f"t-{index}", "", token)
            )
    return bodies
