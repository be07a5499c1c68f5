"""Fuzz POST /validate through the real aiohttp application: every body gets 200 (an
AdmissionReview answer echoing the uid) or 400 (JSON error), never a 5xx.

Each input is sent twice: as the raw body, and as a well-formed review whose fields (user, groups,
operation, resource, namespace, objects ...) the input chooses, so the decision rules are reached.

    python fuzz/admissionreview.py -runs=3000 fuzz/corpus/admissionreview
"""

from __future__ import annotations

import json
from typing import Any

import _harness
import atheris

_harness.instrumented("k3s_daas_webhook", "k3s_daas.grants", "k3s_daas.permissions", load=("k3s_daas_webhook.app",))

from k3s_daas_webhook.app import create_app  # noqa: E402

DRIVER = _harness.AppDriver(lambda: create_app(_harness.webhook_state()))
KEYS = _harness.seed_keys()
USERS = [
    *(f"sui:{key.address}" for key in KEYS.values()),
    "sui:0x" + "00" * 32,
    "sui:nope",
    "system:node:worker-1",
    "system:serviceaccount:k3s-daas:k3s-daas-operator",
    "alice",
]
GROUPS = ["system:masters", "system:nodes", "system:bootstrappers", "k3s-daas:role:admin", "k3s-daas:stakers"]
OPERATIONS = ["CREATE", "UPDATE", "DELETE", "CONNECT", "PATCH", ""]
RESOURCES = [
    ("", "configmaps"),
    ("", "pods"),
    ("", "namespaces"),
    ("", "nodes"),
    ("", "secrets"),
    ("apps", "deployments"),
    ("k3s-daas.io", "sealtokens"),
    ("k3s-daas.io", "stakednodes"),
    ("authentication.k8s.io", "tokenreviews"),
]
NAMESPACES = ["default", "k3s-daas", "owned", "kube-system", ""]
NAMES = ["cm", "worker-1", "server-0", "owned", ""]


def value(fdp: Any, depth: int = 0) -> Any:
    """A JSON value the input chooses (bounded depth)."""
    kind = fdp.ConsumeIntInRange(0, 7 if depth < 4 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(8)
    if kind == 3:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
    if kind == 4:
        return fdp.PickValueInList(USERS + NAMES + [KEYS["Secp256k1"].address, KEYS["Ed25519"].address])
    if kind == 5:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    keys = ["metadata", "spec", "status", "annotations", "name", "owner", "tokenObject", "k3s-daas.io/owner", "x"]
    return {fdp.PickValueInList(keys): value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))}


def chosen_review(data: bytes) -> dict[str, Any]:
    fdp = atheris.FuzzedDataProvider(data)
    group, resource = fdp.PickValueInList(RESOURCES)
    request: dict[str, Any] = {
        "uid": fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(1, 40)) or "u",
        "kind": {"group": group, "version": "v1", "kind": "Thing"},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "subResource": fdp.PickValueInList([None, "status", "exec", "proxy", "scale"]),
        "name": fdp.PickValueInList(NAMES),
        "namespace": fdp.PickValueInList(NAMESPACES),
        "operation": fdp.PickValueInList(OPERATIONS),
        "userInfo": {
            "username": fdp.PickValueInList(USERS),
            "groups": [fdp.PickValueInList(GROUPS) for _ in range(fdp.ConsumeIntInRange(0, 2))],
            "extra": {"k3s-daas.io/seal-token": [fdp.ConsumeUnicodeNoSurrogates(8)]},
        },
        "options": {"kind": fdp.PickValueInList(["CreateOptions", "PatchOptions", "UpdateOptions"])},
        "object": value(fdp) if fdp.ConsumeBool() else {"metadata": {"name": "x"}, "spec": value(fdp)},
        "oldObject": value(fdp) if fdp.ConsumeBool() else None,
    }
    if fdp.ConsumeBool():  # a field of the wrong type: a 400, named
        request[fdp.PickValueInList(sorted(request))] = value(fdp)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def check(answer: _harness.Answer, sent: Any) -> None:
    document = _harness.check_webhook_answer(answer, {200, 400})
    if answer.status == 400:
        _harness.json_error_body(answer)
        return
    response = document.get("response")
    _harness.expect(isinstance(response, dict) and isinstance(response.get("allowed"), bool), "no response")
    _harness.expect(response["uid"] == sent["request"]["uid"], "uid not echoed")
    if not response["allowed"]:
        status = response.get("status") or {}
        _harness.expect(status.get("code") == 403 and isinstance(status.get("message"), str), "denial w/o message")


def test_one_input(data: bytes) -> None:
    try:
        sent = json.loads(data)
    except (ValueError, RecursionError):
        sent = None
    check(DRIVER.request("POST", "/validate", data, {"Content-Type": "application/json"}), sent)
    review = chosen_review(data)
    check(DRIVER.request("POST", "/validate", json.dumps(review).encode()), review)


if __name__ == "__main__":
    _harness.fuzz(test_one_input)
