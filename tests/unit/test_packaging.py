"""The card's folders map to distinct import names; `operator/` never shadows the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stdlib_operator_still_imports_from_the_repository_root() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import operator; operator.itemgetter; print(operator.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert not result.stdout.strip().startswith(str(ROOT))


def test_operator_and_webhook_import_under_their_own_names() -> None:
    import k3s_daas_operator
    import k3s_daas_webhook

    assert Path(k3s_daas_operator.__file__).parent.parent == ROOT / "operator"
    assert Path(k3s_daas_webhook.__file__).parent.parent == ROOT / "webhook"
    assert not (ROOT / "operator" / "__init__.py").exists(), "operator/ must stay a plain folder"


def test_console_script_lists_its_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "k3s_daas.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "cluster" in result.stdout
