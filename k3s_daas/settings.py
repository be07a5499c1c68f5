"""The one typed settings object.

Every component reads its configuration from a :class:`Settings` value that is built once, at the
edge (the CLI), from defaults, then the environment (``K3S_DAAS_*``), then command-line flags.
Nothing reads ``os.environ`` anywhere else, so a test can build the exact configuration it wants.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ENV_PREFIX = "K3S_DAAS_"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the setting."""


def _default_cache_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "/root")) / ".cache")
    return Path(base) / "k3s-daas"


@dataclass(frozen=True)
class ControlPlaneSettings:
    """The local kube-apiserver + kube-controller-manager + etcd used by tests and `k3s-daas up`."""

    cache_dir: Path = field(default_factory=lambda: _default_cache_dir(os.environ))
    """Where built Kubernetes binaries are kept, outside the repository (env K3S_DAAS_CACHE_DIR)."""
    etcd_binary: str = "etcd"
    """The etcd server, Debian's `etcd-server` by default (env K3S_DAAS_ETCD_BINARY)."""
    go_binary: str = "go"
    """The Go toolchain used to build the control plane (env K3S_DAAS_GO_BINARY)."""
    start_timeout_s: float = 120.0
    """How long `cluster up` waits for /readyz before giving up (env K3S_DAAS_START_TIMEOUT_S)."""
    extra_apiserver_args: tuple[str, ...] = ()
    """Extra kube-apiserver flags, passed through verbatim (repeatable --apiserver-arg)."""


def _default_data_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_DATA_HOME") or str(Path(environ.get("HOME", "/root")) / ".local" / "share")
    return Path(base) / "k3s-daas"


@dataclass(frozen=True)
class LocalnetSettings:
    """The embedded chain (`k3s-daas localnet serve`): where it listens and keeps its state."""

    db_path: Path = field(default_factory=lambda: _default_data_dir(os.environ) / "localnet.sqlite3")
    """The SQLite database holding the chain (env K3S_DAAS_LOCALNET_DB)."""
    host: str = "127.0.0.1"
    """Listen address; loopback by default (env K3S_DAAS_LOCALNET_HOST)."""
    port: int = 9125
    """Listen port; the default chain URL points here (env K3S_DAAS_LOCALNET_PORT)."""


@dataclass(frozen=True)
class ChainSettings:
    """Where the Sui GraphQL endpoint is and which Move package is ours."""

    url: str = "http://127.0.0.1:9125/graphql"
    """Sui GraphQL endpoint; localnet's by default (env K3S_DAAS_CHAIN_URL)."""
    package_id: str = ""
    """The published package id; empty means 'ask the endpoint' (localnet only) (env K3S_DAAS_PACKAGE_ID)."""
    timeout_s: float = 5.0
    """Per-request timeout (env K3S_DAAS_CHAIN_TIMEOUT_S)."""
    retries: int = 3
    """Retries for transient faults only, with exponential backoff (env K3S_DAAS_CHAIN_RETRIES)."""


@dataclass(frozen=True)
class OperatorSettings:
    """The kopf operator (`k3s-daas operator`): timers, drain policy, bootstrap tokens, metrics."""

    kubeconfig: str = ""
    """Kubeconfig file(s) to use; empty: in-cluster service account, else ~/.kube/config
    (env K3S_DAAS_KUBECONFIG, else KUBECONFIG)."""
    namespace: str = "k3s-daas"
    """Namespace of the operator's own state (the event cursor ConfigMap) (env K3S_DAAS_OPERATOR_NAMESPACE)."""
    verify_interval_s: float = 30.0
    """Re-verify every Active object this often (env K3S_DAAS_VERIFY_INTERVAL_S)."""
    resync_interval_s: float = 600.0
    """Re-read every object from the chain this often, to converge after missed events
    (env K3S_DAAS_RESYNC_INTERVAL_S)."""
    event_poll_interval_s: float = 0.25
    """How often the package's events are polled (env K3S_DAAS_EVENT_POLL_INTERVAL_S)."""
    drain_deadline_s: float = 300.0
    """After this long draining, taint the Node NoExecute and remove it (env K3S_DAAS_DRAIN_DEADLINE_S)."""
    bootstrap_token_ttl_s: float = 3600.0
    """Lifetime of a node's bootstrap token; renewed when a third of it is left
    (env K3S_DAAS_BOOTSTRAP_TOKEN_TTL_S)."""
    create_from_events: bool = False
    """Create SealToken resources from SealTokenIssued events and StakedNode resources from node
    Staked events (env K3S_DAAS_CREATE_FROM_EVENTS)."""
    metrics_host: str = "0.0.0.0"  # noqa: S104 - a pod's metrics must be reachable from outside it
    """Listen address of /metrics (env K3S_DAAS_METRICS_HOST)."""
    metrics_port: int = 9126
    """Port of /metrics; 0 turns it off (env K3S_DAAS_METRICS_PORT)."""
    max_parallel_requests: int = 32
    """Kubernetes API requests in flight at once (env K3S_DAAS_MAX_PARALLEL_REQUESTS)."""


@dataclass(frozen=True)
class WebhookSettings:
    """The webhook server (`k3s-daas webhook serve`): TokenReview authentication and /join."""

    host: str = "127.0.0.1"
    """Listen address; the API server on the same host calls loopback. Use 0.0.0.0 when node owners
    reach /join from other machines (env K3S_DAAS_WEBHOOK_HOST)."""
    port: int = 9443
    """HTTPS listen port (env K3S_DAAS_WEBHOOK_PORT)."""
    cert_file: str = ""
    """Serving certificate (PEM, chain first); reloaded when the file changes (env K3S_DAAS_WEBHOOK_CERT_FILE)."""
    key_file: str = ""
    """Its private key (PEM) (env K3S_DAAS_WEBHOOK_KEY_FILE)."""
    cluster_id: str = ""
    """This cluster's id: the audience Seal tokens must name (env K3S_DAAS_CLUSTER_ID)."""
    kubeconfig: str = ""
    """Credentials for the SealToken watch and /join; empty: in-cluster service account, else
    ~/.kube/config (env K3S_DAAS_KUBECONFIG, else KUBECONFIG)."""
    max_token_lifetime_s: float = 900.0
    """Longest accepted exp - iat of an API token (env K3S_DAAS_MAX_TOKEN_LIFETIME_S)."""
    leeway_s: float = 30.0
    """Clock skew tolerated on exp, iat and nbf (env K3S_DAAS_TOKEN_LEEWAY_S)."""
    verified_cache_size: int = 50_000
    """Verified tokens remembered (each until it expires) (env K3S_DAAS_VERIFIED_CACHE_SIZE)."""
    verify_workers: int = 2
    """Worker processes verifying first-seen signatures in parallel with the event loop; 0 verifies
    inline on the loop (env K3S_DAAS_VERIFY_WORKERS)."""
    join_max_lifetime_s: float = 300.0
    """Longest accepted lifetime of a signed join request (env K3S_DAAS_JOIN_MAX_LIFETIME_S)."""
    join_replay_cache_size: int = 100_000
    """Used join requests remembered until they expire; when full, /join answers 503
    (env K3S_DAAS_JOIN_REPLAY_CACHE_SIZE)."""
    cluster_ca_file: str = ""
    """CA bundle whose sha256 goes into K10 join tokens (k3s: server/tls/server-ca.crt); empty: the
    kubeconfig's CA (env K3S_DAAS_CLUSTER_CA_FILE)."""
    agent_server_url: str = ""
    """The k3s server URL agents join, returned by /join (env K3S_DAAS_AGENT_SERVER_URL)."""
    cert_reload_interval_s: float = 5.0
    """How often the certificate files are checked for changes (env K3S_DAAS_CERT_RELOAD_INTERVAL_S)."""
    operator_username: str = "system:serviceaccount:k3s-daas:k3s-daas-operator"
    """The operator's Kubernetes username (its ServiceAccount, manifests/10-operator-rbac.yaml): the only
    writer of SealToken and StakedNode status (env K3S_DAAS_WEBHOOK_OPERATOR_USERNAME)."""
    project_namespace: str = "k3s-daas"
    """The namespace of the operator and webhook: only admins write there (docs/admission.md)
    (env K3S_DAAS_WEBHOOK_PROJECT_NAMESPACE)."""
    static_nodes: str = ""
    """Comma-separated Node names admitted without a StakedNode: the k3s server's own node(s)
    (env K3S_DAAS_WEBHOOK_STATIC_NODES)."""
    node_guard_policy: str = "k3s-daas-node-guard"
    """The node-guard ValidatingAdmissionPolicy whose list of admitted Node names the webhook keeps in
    line with the StakedNodes (manifests/41-). Empty: not maintained (env K3S_DAAS_WEBHOOK_NODE_GUARD_POLICY)."""
    attestation_mode: str = "auto"
    """Where /attestation documents come from: ``nitro`` (the AWS Nitro NSM device; refuse to start
    without it), ``dev`` (development mode: no TEE, said in every response and metric) or ``auto``
    (nitro when the NSM device exists, else dev) (env K3S_DAAS_WEBHOOK_ATTESTATION_MODE)."""
    nsm_device: str = "/dev/nsm"
    """The Nitro Security Module device (env K3S_DAAS_WEBHOOK_NSM_DEVICE)."""


@dataclass(frozen=True)
class Settings:
    control_plane: ControlPlaneSettings = field(default_factory=ControlPlaneSettings)
    chain: ChainSettings = field(default_factory=ChainSettings)
    localnet: LocalnetSettings = field(default_factory=LocalnetSettings)
    operator: OperatorSettings = field(default_factory=OperatorSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Defaults overridden by ``K3S_DAAS_<FIELD>`` variables (the section name is not repeated,
        except where noted on the field)."""
        control_plane = ControlPlaneSettings(cache_dir=_default_cache_dir(environ))
        control_plane = _apply_env(
            control_plane,
            environ,
            {
                "cache_dir": "CACHE_DIR",
                "etcd_binary": "ETCD_BINARY",
                "go_binary": "GO_BINARY",
                "start_timeout_s": "START_TIMEOUT_S",
            },
        )
        chain = _apply_env(
            ChainSettings(),
            environ,
            {
                "url": "CHAIN_URL",
                "package_id": "PACKAGE_ID",
                "timeout_s": "CHAIN_TIMEOUT_S",
                "retries": "CHAIN_RETRIES",
            },
        )
        localnet = _apply_env(
            LocalnetSettings(db_path=_default_data_dir(environ) / "localnet.sqlite3"),
            environ,
            {"db_path": "LOCALNET_DB", "host": "LOCALNET_HOST", "port": "LOCALNET_PORT"},
        )
        operator = _apply_env(
            OperatorSettings(kubeconfig=environ.get("KUBECONFIG", "")),
            environ,
            {
                "kubeconfig": "KUBECONFIG",
                "namespace": "OPERATOR_NAMESPACE",
                "verify_interval_s": "VERIFY_INTERVAL_S",
                "resync_interval_s": "RESYNC_INTERVAL_S",
                "event_poll_interval_s": "EVENT_POLL_INTERVAL_S",
                "drain_deadline_s": "DRAIN_DEADLINE_S",
                "bootstrap_token_ttl_s": "BOOTSTRAP_TOKEN_TTL_S",
                "create_from_events": "CREATE_FROM_EVENTS",
                "metrics_host": "METRICS_HOST",
                "metrics_port": "METRICS_PORT",
                "max_parallel_requests": "MAX_PARALLEL_REQUESTS",
            },
        )
        webhook = _apply_env(
            WebhookSettings(kubeconfig=environ.get("KUBECONFIG", "")),
            environ,
            {
                "host": "WEBHOOK_HOST",
                "port": "WEBHOOK_PORT",
                "cert_file": "WEBHOOK_CERT_FILE",
                "key_file": "WEBHOOK_KEY_FILE",
                "cluster_id": "CLUSTER_ID",
                "kubeconfig": "KUBECONFIG",
                "max_token_lifetime_s": "MAX_TOKEN_LIFETIME_S",
                "leeway_s": "TOKEN_LEEWAY_S",
                "verified_cache_size": "VERIFIED_CACHE_SIZE",
                "verify_workers": "VERIFY_WORKERS",
                "join_max_lifetime_s": "JOIN_MAX_LIFETIME_S",
                "join_replay_cache_size": "JOIN_REPLAY_CACHE_SIZE",
                "cluster_ca_file": "CLUSTER_CA_FILE",
                "agent_server_url": "AGENT_SERVER_URL",
                "cert_reload_interval_s": "CERT_RELOAD_INTERVAL_S",
                "operator_username": "WEBHOOK_OPERATOR_USERNAME",
                "project_namespace": "WEBHOOK_PROJECT_NAMESPACE",
                "static_nodes": "WEBHOOK_STATIC_NODES",
                "node_guard_policy": "WEBHOOK_NODE_GUARD_POLICY",
                "attestation_mode": "WEBHOOK_ATTESTATION_MODE",
                "nsm_device": "WEBHOOK_NSM_DEVICE",
            },
        )
        return cls(control_plane=control_plane, chain=chain, localnet=localnet, operator=operator, webhook=webhook)


SectionT = TypeVar("SectionT", bound="DataclassInstance")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _apply_env(section: SectionT, environ: Mapping[str, str], names: Mapping[str, str]) -> SectionT:
    changes: dict[str, Any] = {}
    types = {f.name: f.type for f in dataclasses.fields(section)}
    for field_name, env_suffix in names.items():
        raw = environ.get(ENV_PREFIX + env_suffix)
        if raw is None:
            continue
        changes[field_name] = _parse(ENV_PREFIX + env_suffix, raw, str(types[field_name]))
    return dataclasses.replace(section, **changes)


def _parse(name: str, raw: str, type_name: str) -> object:
    try:
        if type_name == "Path":
            return Path(raw).expanduser()
        if type_name == "float":
            value: float = float(raw)
            if value <= 0:
                raise ValueError("must be positive")
            return value
        if type_name == "bool":
            if raw.lower() not in _BOOLEANS:
                raise ValueError("expected true or false")
            return _BOOLEANS[raw.lower()]
        if type_name == "int":
            number = int(raw)
            if number < 0:
                raise ValueError("must not be negative")
            return number
    except ValueError as error:
        raise SettingsError(f"{name}={raw!r}: {error}") from None
    return raw
