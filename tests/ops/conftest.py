"""Fixtures of the operations tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from k3s_daas.controlplane.binaries import PrerequisiteMissing, ensure_binaries
from k3s_daas.settings import Settings


@pytest.fixture(scope="session")
def kubectl_binary(settings: Settings) -> Path:
    """kubectl built from the pinned Go modules (cached), for offline `kubectl kustomize` builds that
    need no control plane."""
    try:
        binaries = ensure_binaries(settings.control_plane, lambda message: print(message, file=sys.stderr))
    except PrerequisiteMissing as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"prerequisite missing in CI: {error}", pytrace=False)
        pytest.skip(f"prerequisite missing: {error}")
    return binaries.kubectl
