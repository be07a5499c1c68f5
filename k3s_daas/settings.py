"""The one typed settings object.

Every component reads its configuration from a :class:`Settings` value that is built once, at the
edge (the CLI), from defaults, then an optional TOML file (``--config``, ``K3S_DAAS_CONFIG``), then the
environment (``K3S_DAAS_*``), then command-line flags: later wins (docs/configuration.md).
Nothing reads ``os.environ`` anywhere else, so a test can build the exact configuration it wants.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from k3s_daas.config_file import ConfigFileError, read_config_file

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ENV_PREFIX = "K3S_DAAS_"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the setting."""


def secret(default: str = "") -> Any:
    """A field whose value is a credential (key, token, password): `config show` prints it redacted."""
    return field(default=default, metadata={"secret": True})


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


def default_verify_workers(cpus: int | None) -> int:
    """One worker per CPU but one, at least one: the event loop needs a core of its own. Measured with
    `bench authn` on 2 cores: a second worker only added context switches (first-seen Ed25519 about
    3,190 vs 2,430/s, server CPU 383 vs 504 us a request)."""
    return max(1, (cpus or 2) - 1)


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
    """Re-read every object from the chain this often, to converge after missed events, and forget what
    was kept about deleted objects (env K3S_DAAS_RESYNC_INTERVAL_S)."""
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
    heartbeat_interval_s: float = 5.0
    """How often the operator publishes when it last confirmed chain state (the Lease
    k3s-daas-chain-heartbeat, read by the webhook's staleness gate) (env K3S_DAAS_HEARTBEAT_INTERVAL_S)."""
    leader_election: bool = False
    """Run only while holding the Lease k3s-daas-operator, so replicas are active-standby
    (docs/replicas.md) (env K3S_DAAS_LEADER_ELECTION)."""


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
    verify_workers: int = field(default_factory=lambda: default_verify_workers(os.cpu_count()))
    """Worker processes verifying first-seen signatures in parallel with the event loop; 0 verifies
    inline on the loop (env K3S_DAAS_VERIFY_WORKERS). Default: one per CPU but the loop's own."""
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
    """The operator's Kubernetes username (its ServiceAccount, manifests/base/10-operator-rbac.yaml): the only
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
    max_chain_staleness_s: float = 300.0
    """Refuse Seal users' writes once the operator last confirmed chain state longer ago than this
    (docs/failure-modes.md) (env K3S_DAAS_WEBHOOK_MAX_CHAIN_STALENESS_S)."""
    shutdown_grace_s: float = 5.0
    """On SIGTERM, answer /readyz 503 but keep serving this long, so endpoints and load balancers stop
    sending new requests first (env K3S_DAAS_WEBHOOK_SHUTDOWN_GRACE_S)."""
    shutdown_timeout_s: float = 10.0
    """Then stop listening and give requests in flight this long to finish
    (env K3S_DAAS_WEBHOOK_SHUTDOWN_TIMEOUT_S). Grace + timeout must fit the pod's
    terminationGracePeriodSeconds (30 s by default)."""
    idle_timeout_s: float = 100.0
    """A connection is closed when it has not sent a whole request head this long after it opened or
    after its previous answer: slow-loris clients that trickle headers, and idle keep-alive
    connections. Above the API server's own 90 s idle keep-alive, so on loopback the API server
    closes its idle connections first (env K3S_DAAS_WEBHOOK_IDLE_TIMEOUT_S)."""
    body_timeout_s: float = 10.0
    """A request whose body has not fully arrived this long after its head is dropped (slow-body
    clients); the API server sends each review at once (env K3S_DAAS_WEBHOOK_BODY_TIMEOUT_S)."""


LOG_FORMATS: Final = ("auto", "json", "text")
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class LogSettings:
    """How every component logs (k3s_daas.logs)."""

    format: str = "auto"
    """``json`` (one object a line), ``text`` (for people), or ``auto``: text when stderr is a terminal,
    else json (env K3S_DAAS_LOG_FORMAT, flag --log-format)."""
    level: str = "INFO"
    """The lowest level written (env K3S_DAAS_LOG_LEVEL, flag --log-level)."""


# section -> field -> the K3S_DAAS_ variable that sets it. Most names do not repeat the section
# (they predate the sections); the field docstrings name each variable too.
ENV_NAMES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "control_plane": MappingProxyType(
            {
                "cache_dir": "CACHE_DIR",
                "etcd_binary": "ETCD_BINARY",
                "go_binary": "GO_BINARY",
                "start_timeout_s": "START_TIMEOUT_S",
            }
        ),
        "chain": MappingProxyType(
            {
                "url": "CHAIN_URL",
                "package_id": "PACKAGE_ID",
                "timeout_s": "CHAIN_TIMEOUT_S",
                "retries": "CHAIN_RETRIES",
            }
        ),
        "localnet": MappingProxyType(
            {
                "db_path": "LOCALNET_DB",
                "host": "LOCALNET_HOST",
                "port": "LOCALNET_PORT",
            }
        ),
        "operator": MappingProxyType(
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
                "heartbeat_interval_s": "HEARTBEAT_INTERVAL_S",
                "leader_election": "LEADER_ELECTION",
            }
        ),
        "webhook": MappingProxyType(
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
                "max_chain_staleness_s": "WEBHOOK_MAX_CHAIN_STALENESS_S",
                "shutdown_grace_s": "WEBHOOK_SHUTDOWN_GRACE_S",
                "shutdown_timeout_s": "WEBHOOK_SHUTDOWN_TIMEOUT_S",
                "idle_timeout_s": "WEBHOOK_IDLE_TIMEOUT_S",
                "body_timeout_s": "WEBHOOK_BODY_TIMEOUT_S",
            }
        ),
        "log": MappingProxyType(
            {
                "format": "LOG_FORMAT",
                "level": "LOG_LEVEL",
            }
        ),
        "requests": MappingProxyType(
            {
                "enabled": "ONCHAIN_REQUESTS",
                "namespace": "ONCHAIN_REQUESTS_NAMESPACE",
                "poll_interval_s": "ONCHAIN_REQUESTS_POLL_INTERVAL_S",
                "execute_timeout_s": "ONCHAIN_REQUESTS_EXECUTE_TIMEOUT_S",
                "onchain_body_bytes": "ONCHAIN_REQUESTS_ONCHAIN_BODY_BYTES",
                "relay_key_file": "ONCHAIN_REQUESTS_RELAY_KEY_FILE",
                "webhook_url": "WEBHOOK_URL",
                "webhook_ca_file": "WEBHOOK_CA",
                "wait_timeout_s": "REQUEST_TIMEOUT_S",
            }
        ),
    }
)


@dataclass(frozen=True)
class RequestSettings:
    """On-chain request mode (docs/onchain-requests.md): the executor the webhook hosts
    (`k3s-daas webhook serve --onchain-requests`) and the request client (`k3s-daas request`)."""

    enabled: bool = False
    """Run the executor in the webhook process (env K3S_DAAS_ONCHAIN_REQUESTS)."""
    namespace: str = "k3s-daas"
    """Namespace of the executor's claims and cursor (env K3S_DAAS_ONCHAIN_REQUESTS_NAMESPACE)."""
    poll_interval_s: float = 0.25
    """How often K8sAPIRequest events are polled (env K3S_DAAS_ONCHAIN_REQUESTS_POLL_INTERVAL_S)."""
    execute_timeout_s: float = 30.0
    """Timeout of one request to the API server; a claim twice this old without an outcome is an
    interrupted execution (env K3S_DAAS_ONCHAIN_REQUESTS_EXECUTE_TIMEOUT_S)."""
    onchain_body_bytes: int = 12_288
    """Response bodies up to this size go on chain; larger ones are kept off chain, behind the
    webhook's /requests/<id>/body (env K3S_DAAS_ONCHAIN_REQUESTS_ONCHAIN_BODY_BYTES)."""
    relay_key_file: str = ""
    """A file holding the bech32 suiprivkey that signs (and pays for) the store_k8s_response
    transactions; empty: a key generated at start, enough on localnet, which charges no gas
    (env K3S_DAAS_ONCHAIN_REQUESTS_RELAY_KEY_FILE)."""
    webhook_url: str = "https://127.0.0.1:9443"
    """Client side: the webhook serving off-chain bodies (env K3S_DAAS_WEBHOOK_URL)."""
    webhook_ca_file: str = ""
    """Client side: the CA of the webhook's serving certificate (env K3S_DAAS_WEBHOOK_CA)."""
    wait_timeout_s: float = 60.0
    """Client side: how long `k3s-daas request` waits for the response (env K3S_DAAS_REQUEST_TIMEOUT_S)."""


@dataclass(frozen=True)
class Settings:
    control_plane: ControlPlaneSettings = field(default_factory=ControlPlaneSettings)
    chain: ChainSettings = field(default_factory=ChainSettings)
    localnet: LocalnetSettings = field(default_factory=LocalnetSettings)
    operator: OperatorSettings = field(default_factory=OperatorSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    log: LogSettings = field(default_factory=LogSettings)
    requests: RequestSettings = field(default_factory=RequestSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Defaults overridden by ``K3S_DAAS_<FIELD>`` variables (the section name is not repeated,
        except where noted on the field)."""
        return cls.load(environ).settings

    @classmethod
    def load(cls, environ: Mapping[str, str], config_file: Path | None = None) -> LoadedSettings:
        """Defaults, then ``config_file`` (TOML), then ``K3S_DAAS_*`` variables; each value's source kept.

        Raises :class:`SettingsError` naming the file and key, or the variable, of the first bad value."""
        sections: dict[str, Any] = {
            "control_plane": ControlPlaneSettings(cache_dir=_default_cache_dir(environ)),
            "chain": ChainSettings(),
            "localnet": LocalnetSettings(db_path=_default_data_dir(environ) / "localnet.sqlite3"),
            "operator": OperatorSettings(kubeconfig=environ.get("KUBECONFIG", "")),
            "webhook": WebhookSettings(kubeconfig=environ.get("KUBECONFIG", "")),
            "log": LogSettings(),
            "requests": RequestSettings(),
        }
        sources = {f"{name}.{f.name}": DEFAULT_SOURCE for name, section in sections.items() for f in fields(section)}
        if "KUBECONFIG" in environ:
            sources["operator.kubeconfig"] = sources["webhook.kubeconfig"] = "env KUBECONFIG"
        if config_file is not None:
            try:
                from_file = read_config_file(config_file, config_schema())
            except ConfigFileError as error:
                raise SettingsError(str(error)) from None
            for name, changes in from_file.items():
                sections[name] = dataclasses.replace(sections[name], **changes)
                sources.update({f"{name}.{key}": f"file {config_file}" for key in changes})
        for name, names in ENV_NAMES.items():
            sections[name] = _apply_env(sections[name], environ, names)
            sources.update(
                {f"{name}.{key}": f"env {ENV_PREFIX}{var}" for key, var in names.items() if ENV_PREFIX + var in environ}
            )
        settings = cls(**sections)
        settings.validate()
        return LoadedSettings(settings, MappingProxyType(sources))

    def validate(self) -> None:
        """Checks that span the sections' own types: ports, log format and level."""
        for key, port in (
            ("localnet.port", self.localnet.port),
            ("operator.metrics_port", self.operator.metrics_port),
            ("webhook.port", self.webhook.port),
        ):
            if port > 65535:
                raise SettingsError(f"{key} = {port}: a port is at most 65535")
        if self.log.format not in LOG_FORMATS:
            raise SettingsError(f"log.format = {self.log.format!r}: use one of {', '.join(LOG_FORMATS)}")
        if self.log.level not in LOG_LEVELS:
            raise SettingsError(f"log.level = {self.log.level!r}: use one of {', '.join(LOG_LEVELS)}")


DEFAULT_SOURCE: Final = "default"
CONFIG_ENV: Final = ENV_PREFIX + "CONFIG"
"""The configuration file's name, when no --config flag gives one."""


@dataclass(frozen=True)
class LoadedSettings:
    """Settings and where each value came from: ``"section.field"`` -> ``default``, ``file PATH``,
    ``env NAME`` or ``flag --NAME``."""

    settings: Settings
    sources: Mapping[str, str]

    def with_flags(self, section: str, flags: Mapping[str, tuple[str, object]]) -> LoadedSettings:
        """Override fields of one section by flags given (field -> (flag, value)); None values are ignored."""
        given = {name: value for name, (_flag, value) in flags.items() if value is not None}
        if not given:
            return self
        changed = dataclasses.replace(getattr(self.settings, section), **given)
        settings = dataclasses.replace(self.settings, **{section: changed})
        settings.validate()
        sources = {**self.sources, **{f"{section}.{name}": f"flag {flags[name][0]}" for name in given}}
        return LoadedSettings(settings, MappingProxyType(sources))


def config_schema() -> dict[str, dict[str, str]]:
    """Section -> field -> type name: what the configuration file may set."""
    defaults = Settings()
    return {f.name: {g.name: str(g.type) for g in fields(getattr(defaults, f.name))} for f in fields(Settings)}


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
