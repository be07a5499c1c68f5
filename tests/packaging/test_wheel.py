"""The distribution as a user gets it: `python -m build` makes an sdist and, from that sdist, a wheel;
the wheel goes into a clean virtual environment (dependencies pinned by constraints.txt); the
installed `k3s-daas` answers --help and `version`, and `k3s-daas localnet serve` serves GraphQL.

Slow (a dependency install): one build and one environment for the whole session, shared by the tests
below. Everything runs from a directory outside the checkout, so nothing is imported from it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from k3s_daas import __version__
from k3s_daas.controlplane.binaries import pinned_kube_version
from k3s_daas.controlplane.processes import free_loopback_port

ROOT = Path(__file__).resolve().parents[2]
# What the build reads: the project metadata and the three import packages' folders.
SOURCES = ("pyproject.toml", "README.md", "k3s_daas", "operator", "webhook")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", "gobuild/bin")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    venv: Path
    workdir: Path

    def env(self) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "K3S_DAAS_"))}
        environment["HOME"] = str(self.workdir)  # default state and cache directories inside the test's folder
        environment["PATH"] = f"{self.venv / 'bin'}:{environment.get('PATH', '')}"
        return environment

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "k3s-daas"), *args],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _check(command: list[str], cwd: Path, timeout: float) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=IGNORE)
        else:
            shutil.copy2(ROOT / name, source / name)
    started = time.monotonic()
    dist = base / "dist"
    _check([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], base, 600)
    built = time.monotonic()
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    venv = base / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], base, 120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _check([*pip, "-c", str(ROOT / "constraints.txt"), str(wheel)], base, 900)
    print(
        f"\n[packaging] build {built - started:.1f}s, venv + install {time.monotonic() - built:.1f}s",
        file=sys.stderr,
    )
    workdir = base / "work"
    workdir.mkdir()
    return Installed(wheel, sdist, venv, workdir)


def test_the_wheel_holds_the_data_the_program_reads(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for needed in (
        "k3s_daas/controlplane/gobuild/go.mod",  # `cluster up` builds the API server from it; `version` reads it
        "k3s_daas/controlplane/gobuild/go.sum",
        "k3s_daas/controlplane/gobuild/cmd/kube-apiserver/main.go",
        "k3s_daas/enclave/aws_nitro_enclaves_root_g1.pem",  # attestation verification's trust anchor
        "k3s_daas/py.typed",
        "k3s_daas_operator/py.typed",
        "k3s_daas_webhook/py.typed",
    ):
        assert needed in names
    assert not any(name.startswith(("tests/", "operator/", "webhook/")) for name in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "k3s-daas = k3s_daas.cli:main" in zipfile.ZipFile(installed.wheel).read(entry_points).decode()


def test_the_installed_program_runs_from_the_environment(installed: Installed) -> None:
    probe = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import k3s_daas, k3s_daas_webhook; print(k3s_daas.__file__)"],
        cwd=installed.workdir,
        env=installed.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(installed.venv)

    help_text = installed.run("--help")
    assert help_text.returncode == 0, help_text.stderr
    for command in ("up", "localnet", "webhook", "operator", "token", "config", "version"):
        assert command in help_text.stdout

    version = installed.run("version", "--json")
    assert version.returncode == 0, version.stderr
    info = json.loads(version.stdout)
    assert info["version"] == __version__
    assert info["kubernetes_control_plane"] == pinned_kube_version()
    assert all(info["libraries"][name] for name in ("pysui", "kopf", "kubernetes"))

    shown = installed.run("config", "show", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["settings"]["localnet"]["port"] == 9125


def test_installed_localnet_serves_graphql(installed: Installed) -> None:
    port = free_loopback_port()
    admin = "0x" + "ad" * 32
    log = installed.workdir / "localnet.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                str(installed.venv / "bin" / "k3s-daas"),
                "localnet",
                "serve",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--db={installed.workdir / 'chain.sqlite3'}",
                f"--admin={admin}",
            ],
            cwd=installed.workdir,
            env=installed.env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        query = json.dumps({"query": "{ chainIdentifier }"}).encode()
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"localnet exited:\n{log.read_text()[-3000:]}"
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.loads(response.read())
                    version_header = response.headers.get("x-sui-rpc-version")
                break
            except OSError:
                assert time.monotonic() < deadline, f"localnet never answered:\n{log.read_text()[-3000:]}"
                time.sleep(0.2)
        assert "errors" not in answer, answer
        assert isinstance(answer["data"]["chainIdentifier"], str) and answer["data"]["chainIdentifier"]
        assert version_header
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
