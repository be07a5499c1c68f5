"""manifests/base deploys the CRDs too: its copies must be crds/ exactly."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_manifest_crds_are_the_crds() -> None:
    for name in ("sealtokens", "stakednodes"):
        assert (REPO / "manifests" / "base" / f"01-crd-{name}.yaml").read_text() == (
            REPO / "crds" / f"{name}.yaml"
        ).read_text()


def test_operator_rbac_never_reads_secrets() -> None:
    documents = list(yaml.safe_load_all((REPO / "manifests" / "base" / "10-operator-rbac.yaml").read_text()))
    for document in documents:
        for rule in document.get("rules") or []:
            if "secrets" in rule["resources"]:
                assert set(rule["verbs"]) <= {"create", "delete"}, rule
