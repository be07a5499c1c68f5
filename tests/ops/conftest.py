"""Fixtures of the operations tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ops_testing import prerequisite_missing

from k3s_daas.controlplane.binaries import PrerequisiteMissing, ensure_binaries
from k3s_daas.settings import Settings


@pytest.fixture(scope="session")
def kubectl_binary(settings: Settings) -> Path:
    """kubectl built from the pinned Go modules (cached), for offline `kubectl kustomize` builds that
    need no control plane."""
    try:
        binaries = ensure_binaries(settings.control_plane, lambda message: print(message, file=sys.stderr))
    except PrerequisiteMissing as error:
        prerequisite_missing(str(error))
    return binaries.kubectl
