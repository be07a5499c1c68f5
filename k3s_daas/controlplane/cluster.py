"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

The API server gets the flags a k3s server gives its embedded kube-apiserver (Node,RBAC
authorization, NodeRestriction, bootstrap tokens, anonymous auth off), plus whatever extra flags the
caller passes through (the token-webhook authenticator, later). Everything binds to 127.0.0.1.

Layout of a state directory::

    pki/            CA, serving and client certificates, service-account keys
    etcd/           etcd's data (kept across `down`/`up`, like a real server's disk)
    logs/*.log      one log per process
    cluster.json    pids and endpoints of the running processes (what `down` stops)
    admin.kubeconfig  client-certificate admin in system:masters (also the break-glass path)
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from k3s_daas.controlplane import pki
from k3s_daas.controlplane.binaries import KubeBinaries, PrerequisiteMissing, Progress, ensure_binaries
from k3s_daas.controlplane.kubeconfig import client_certificate_kubeconfig, write_kubeconfig, write_private
from k3s_daas.controlplane.processes import (
    ManagedProcess,
    StartFailed,
    free_loopback_port,
    is_running,
    spawn,
    stop,
    wait_until_ready,
)
from k3s_daas.errors import UserError
from k3s_daas.settings import ControlPlaneSettings

SERVICE_CIDR = "10.43.0.0/16"  # k3s' default
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
PORT_RACE_ATTEMPTS = 3


@dataclass(frozen=True)
class Layout:
    state_dir: Path

    @property
    def pki(self) -> Path:
        return self.state_dir / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.state_dir / "etcd"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "cluster.json"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state_dir / "admin.kubeconfig"

    @property
    def controller_manager_kubeconfig(self) -> Path:
        return self.pki / "controller-manager.kubeconfig"

    def pem(self, name: str) -> Path:
        return self.pki / name


@dataclass(frozen=True)
class RunningCluster:
    state_dir: Path
    server: str
    ca_file: Path
    admin_kubeconfig: Path
    kubectl: Path
    version: str
    processes: tuple[ManagedProcess, ...]

    def to_json(self) -> str:
        data = asdict(self)
        data.update(state_dir=str(self.state_dir), ca_file=str(self.ca_file))
        data.update(admin_kubeconfig=str(self.admin_kubeconfig), kubectl=str(self.kubectl))
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunningCluster:
        data = json.loads(text)
        return cls(
            state_dir=Path(data["state_dir"]),
            server=data["server"],
            ca_file=Path(data["ca_file"]),
            admin_kubeconfig=Path(data["admin_kubeconfig"]),
            kubectl=Path(data["kubectl"]),
            version=data["version"],
            processes=tuple(ManagedProcess(**p) for p in data["processes"]),
        )


def etcd_args(etcd: str, layout: Layout, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        etcd,
        "--name=default",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--listen-metrics-urls=",
        "--log-level=warn",
    ]


def apiserver_args(binary: Path, layout: Layout, etcd_port: int, secure_port: int, extra: tuple[str, ...]) -> list[str]:
    """The flags a k3s server passes to its embedded kube-apiserver, minus what needs a kubelet."""
    return [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--storage-backend=etcd3",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={secure_port}",
        f"--cert-dir={layout.pki / 'apiserver'}",
        f"--tls-cert-file={layout.pem('apiserver.crt')}",
        f"--tls-private-key-file={layout.pem('apiserver.key')}",
        f"--client-ca-file={layout.pem('ca.crt')}",
        "--anonymous-auth=false",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        "--allow-privileged=true",
        "--profiling=false",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-node-port-range=30000-32767",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--api-audiences={SERVICE_ACCOUNT_ISSUER},k3s",
        f"--service-account-key-file={layout.pem('service-account.pub')}",
        f"--service-account-signing-key-file={layout.pem('service-account.key')}",
        f"--requestheader-client-ca-file={layout.pem('request-header-ca.crt')}",
        "--requestheader-allowed-names=system:auth-proxy",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={layout.pem('auth-proxy.crt')}",
        f"--proxy-client-key-file={layout.pem('auth-proxy.key')}",
        # Loopback cannot be published as the `kubernetes` Endpoints address; there is no pod network.
        "--endpoint-reconciler-type=none",
        *extra,
    ]


def controller_manager_args(binary: Path, layout: Layout, secure_port: int) -> list[str]:
    kubeconfig = layout.controller_manager_kubeconfig
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={secure_port}",
        f"--cert-dir={layout.pki / 'controller-manager'}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={layout.pem('service-account.key')}",
        f"--root-ca-file={layout.pem('ca.crt')}",
        f"--cluster-signing-cert-file={layout.pem('ca.crt')}",
        f"--cluster-signing-key-file={layout.pem('ca.key')}",
        # tokencleaner removes expired bootstrap tokens, which the node-join flow relies on.
        "--controllers=*,bootstrapsigner,tokencleaner",
    ]


def _ensure_pki(layout: Layout) -> None:
    """Create the certificates once; a restart reuses them, like a real server's disk."""
    if layout.pem("ca.crt").exists() and layout.controller_manager_kubeconfig.exists():
        return
    ca = pki.new_ca()
    serving = pki.serving_certificate(ca)
    service_account = pki.service_account_key_pair()
    # A separate CA for the aggregation layer's request headers, as k3s has: a client certificate
    # from the main CA must never be able to assert X-Remote-User.
    front_proxy_ca = pki.new_ca("k3s-daas-request-header-ca")
    front_proxy = pki.issue(front_proxy_ca, "system:auth-proxy", client=True)
    files = {
        "ca.crt": ca.cert_pem,
        "ca.key": ca.key_pem,
        "apiserver.crt": serving.cert_pem,
        "apiserver.key": serving.key_pem,
        "service-account.pub": service_account.cert_pem,
        "service-account.key": service_account.key_pem,
        "request-header-ca.crt": front_proxy_ca.cert_pem,
        "auth-proxy.crt": front_proxy.cert_pem,
        "auth-proxy.key": front_proxy.key_pem,
    }
    for name, content in files.items():
        write_private(layout.pem(name), content)
    admin = pki.issue(ca, "k3s-daas-admin", organization="system:masters", client=True)
    write_private(layout.pem("admin.crt"), admin.cert_pem)
    write_private(layout.pem("admin.key"), admin.key_pem)
    controller_manager = pki.issue(ca, "system:kube-controller-manager", client=True)
    # The server address is filled in at every start (ports are chosen then).
    write_private(layout.pem("controller-manager.crt"), controller_manager.cert_pem)
    write_private(layout.pem("controller-manager.key"), controller_manager.key_pem)
    write_private(layout.controller_manager_kubeconfig, b"")


def _write_kubeconfigs(layout: Layout, server: str) -> None:
    ca_pem = layout.pem("ca.crt").read_bytes()
    for user, path, name in (
        ("admin", layout.admin_kubeconfig, "admin"),
        ("system:kube-controller-manager", layout.controller_manager_kubeconfig, "controller-manager"),
    ):
        credential = pki.KeyAndCert(layout.pem(f"{name}.key").read_bytes(), layout.pem(f"{name}.crt").read_bytes())
        write_kubeconfig(path, client_certificate_kubeconfig(server, ca_pem, credential, user))


def admin_ssl_context(layout: Layout) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(layout.pem("ca.crt")))
    context.load_cert_chain(str(layout.pem("admin.crt")), str(layout.pem("admin.key")))
    return context


def load_running(state_dir: Path) -> RunningCluster | None:
    """The cluster recorded in ``state_dir`` if all its processes still run, else None."""
    layout = Layout(state_dir)
    try:
        cluster = RunningCluster.from_json(layout.state_file.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{layout.state_file} is not a cluster state file: {error}") from None
    return cluster if all(is_running(p) for p in cluster.processes) else None


def up(
    settings: ControlPlaneSettings,
    state_dir: Path,
    progress: Progress,
    *,
    tie_to_parent: bool,
    extra_apiserver_args: tuple[str, ...] = (),
) -> RunningCluster:
    """Start the control plane (or return the one already running there) once /readyz is ok."""
    state_dir = state_dir.resolve()
    running = load_running(state_dir)
    if running is not None:
        progress(f"control plane already running at {running.server}")
        return running
    down(state_dir)  # a partial leftover from a crash: stop what is left before starting afresh
    etcd = shutil.which(settings.etcd_binary)
    if etcd is None:
        raise PrerequisiteMissing(
            f"etcd {settings.etcd_binary!r} not found: install Debian's etcd-server (apt-get install etcd-server)"
        )
    binaries = ensure_binaries(settings, progress)
    layout = Layout(state_dir)
    _ensure_pki(layout)
    for attempt in range(1, PORT_RACE_ATTEMPTS + 1):
        started: list[ManagedProcess] = []
        try:
            return _start(settings, layout, etcd, binaries, started, progress, tie_to_parent, extra_apiserver_args)
        except StartFailed as error:
            stop(started)
            layout.state_file.unlink(missing_ok=True)
            # A free port can be taken by another process between our probe and the bind. etcd has
            # also been seen to exit at once with an empty log on a loaded machine (cause not yet
            # known; the message now carries its exit status): a fresh attempt has always worked.
            retry = "address already in use" in str(error) or str(error).startswith("etcd ")
            if not retry or attempt == PORT_RACE_ATTEMPTS:
                raise
            progress(f"start-up failed ({error}); retrying with new ports")
        except BaseException:
            stop(started)
            layout.state_file.unlink(missing_ok=True)
            raise
    raise AssertionError("unreachable")


def _start(
    settings: ControlPlaneSettings,
    layout: Layout,
    etcd: str,
    binaries: KubeBinaries,
    started: list[ManagedProcess],
    progress: Progress,
    tie_to_parent: bool,
    extra_apiserver_args: tuple[str, ...],
) -> RunningCluster:
    began = time.monotonic()
    deadline = began + settings.start_timeout_s
    marker = str(layout.state_dir)
    etcd_port, peer_port, api_port, kcm_port = (free_loopback_port() for _ in range(4))
    server = f"https://127.0.0.1:{api_port}"

    def launch(name: str, argv: list[str]) -> ManagedProcess:
        process = spawn(name, argv, layout.logs / f"{name}.log", marker, tie_to_parent=tie_to_parent)
        started.append(process)
        _record(layout, server, binaries, started)
        return process

    progress("starting etcd ...")
    etcd_process = launch("etcd", etcd_args(etcd, layout, etcd_port, peer_port))
    wait_until_ready(etcd_process, f"http://127.0.0.1:{etcd_port}/health", None, layout.logs / "etcd.log", deadline)

    progress(f"starting kube-apiserver {binaries.version} ...")
    extra = (*settings.extra_apiserver_args, *extra_apiserver_args)
    apiserver = launch("kube-apiserver", apiserver_args(binaries.kube_apiserver, layout, etcd_port, api_port, extra))
    _write_kubeconfigs(layout, server)
    context = admin_ssl_context(layout)
    wait_until_ready(apiserver, f"{server}/readyz", context, layout.logs / "kube-apiserver.log", deadline)

    progress("starting kube-controller-manager ...")
    kcm = launch("kube-controller-manager", controller_manager_args(binaries.kube_controller_manager, layout, kcm_port))
    kcm_health = f"https://127.0.0.1:{kcm_port}/healthz"
    wait_until_ready(
        kcm, kcm_health, _insecure_loopback_context(), layout.logs / "kube-controller-manager.log", deadline
    )
    progress(f"control plane ready at {server} in {time.monotonic() - began:.1f}s")
    return _record(layout, server, binaries, started)


def _insecure_loopback_context() -> ssl.SSLContext:
    # The controller manager serves /healthz with a self-signed certificate it generates itself;
    # only its liveness is read here, over loopback.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _record(
    layout: Layout, server: str, binaries: KubeBinaries | _Recorded, started: list[ManagedProcess]
) -> RunningCluster:
    cluster = RunningCluster(
        state_dir=layout.state_dir,
        server=server,
        ca_file=layout.pem("ca.crt"),
        admin_kubeconfig=layout.admin_kubeconfig,
        kubectl=binaries.kubectl,
        version=binaries.version,
        processes=tuple(started),
    )
    write_private(layout.state_file, cluster.to_json().encode())
    return cluster


def restart_apiserver(
    state_dir: Path,
    *,
    tie_to_parent: bool,
    while_down: Callable[[], None] | None = None,
    timeout_s: float = 120.0,
) -> RunningCluster:
    """Stop the kube-apiserver (SIGTERM, as a k3s restart does), run ``while_down``, start it again with
    the same command line (same port, same etcd) and wait for /readyz. For fault tests."""
    layout = Layout(state_dir.resolve())
    running = load_running(layout.state_dir)
    if running is None:
        raise UserError(f"no running control plane in {layout.state_dir}")
    (old,) = [p for p in running.processes if p.name == "kube-apiserver"]
    argv = (Path("/proc") / str(old.pid) / "cmdline").read_bytes().decode().split("\0")[:-1]
    stop([old])
    if while_down is not None:
        while_down()
    new = spawn(old.name, argv, layout.logs / f"{old.name}.log", old.marker, tie_to_parent=tie_to_parent)
    processes = [new if p is old else p for p in running.processes]
    restarted = _record(layout, running.server, _Recorded(running.kubectl, running.version), processes)
    deadline = time.monotonic() + timeout_s
    wait_until_ready(
        new, f"{running.server}/readyz", admin_ssl_context(layout), layout.logs / "kube-apiserver.log", deadline
    )
    return restarted


@dataclass(frozen=True)
class _Recorded:
    """What ``_record`` needs of the binaries, as the state file recorded them."""

    kubectl: Path
    version: str


def down(state_dir: Path) -> list[str]:
    """Stop exactly the processes recorded in ``state_dir``; returns the names of those stopped."""
    layout = Layout(state_dir.resolve())
    try:
        cluster = RunningCluster.from_json(layout.state_file.read_text())
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{layout.state_file} is not a cluster state file: {error}") from None
    # Reverse start order: clients before the API server, the API server before etcd.
    processes = list(reversed(cluster.processes))
    stopped = [p.name for p in processes if is_running(p)]
    stop(processes)
    layout.state_file.unlink(missing_ok=True)
    return stopped
