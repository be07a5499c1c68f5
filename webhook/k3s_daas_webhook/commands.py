"""`k3s-daas webhook serve`, `k3s-daas webhook admission-config` and `k3s-daas bench authn|admission`.

Heavy imports (aiohttp, kubernetes) happen inside the run functions: the same console script is
kubectl's credential plugin, which must start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from k3s_daas import logs
from k3s_daas.settings import Settings

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

# flag -> WebhookSettings field; each flag overrides the environment and the default.
_SERVE_FLAGS: dict[str, tuple[str, type, str]] = {
    "--host": ("host", str, "listen address"),
    "--port": ("port", int, "HTTPS port"),
    "--cert-file": ("cert_file", str, "serving certificate (PEM), reloaded when it changes"),
    "--key-file": ("key_file", str, "serving key (PEM)"),
    "--cluster-id": ("cluster_id", str, "the audience Seal tokens must name"),
    "--kubeconfig": ("kubeconfig", str, "credentials for the SealToken watch and /join"),
    "--cluster-ca-file": ("cluster_ca_file", str, "CA bundle hashed into K10 join tokens"),
    "--agent-server-url": ("agent_server_url", str, "k3s server URL returned to joining nodes"),
    "--max-token-lifetime": ("max_token_lifetime_s", float, "longest accepted token lifetime, seconds"),
    "--leeway": ("leeway_s", float, "clock skew tolerated, seconds"),
    "--verify-workers": ("verify_workers", int, "signature verification processes (0: on the event loop)"),
    "--verified-cache-size": ("verified_cache_size", int, "verified tokens remembered"),
    "--operator-username": ("operator_username", str, "the operator's username: the only status writer"),
    "--project-namespace": ("project_namespace", str, "namespace of the operator and webhook (admins only)"),
    "--static-nodes": ("static_nodes", str, "comma-separated Node names admitted without a StakedNode"),
    "--node-guard-policy": ("node_guard_policy", str, "ValidatingAdmissionPolicy whose node list is kept current"),
    "--attestation-mode": ("attestation_mode", str, "auto, nitro (the NSM device) or dev (no TEE; says so)"),
    "--nsm-device": ("nsm_device", str, "the Nitro Security Module device"),
    "--shutdown-grace": ("shutdown_grace_s", float, "on SIGTERM, seconds /readyz says 503 while still serving"),
    "--shutdown-timeout": ("shutdown_timeout_s", float, "then seconds requests in flight get to finish"),
    "--idle-timeout": ("idle_timeout_s", float, "close a connection with no complete request head for this long"),
    "--body-timeout": ("body_timeout_s", float, "drop a request whose body has not arrived this long after its head"),
    "--max-chain-staleness": (
        "max_chain_staleness_s",
        float,
        "refuse Seal users' writes once chain state was last confirmed longer ago than this",
    ),
}


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "webhook",
        help="the webhook server: TokenReview authentication, admission, /join and /attestation",
        description=(
            "HTTPS server the API server calls to authenticate Seal tokens and admit writes; also serves /join "
            "and the enclave's /attestation."
        ),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="run the server in the foreground")
    for flag, (name, kind, text) in _SERVE_FLAGS.items():
        serve.add_argument(flag, dest=name, type=kind, default=None, help=f"{text} (default: settings)")
    serve.add_argument(
        "--onchain-requests",
        action="store_true",
        help="also execute on-chain requests (K8sAPIRequest events) and relay their signed responses "
        "(default: settings, K3S_DAAS_ONCHAIN_REQUESTS; docs/onchain-requests.md)",
    )
    serve.set_defaults(run=run_serve)

    config = actions.add_parser(
        "admission-config",
        help="print the ValidatingWebhookConfiguration (manifests/40-admission-webhook.yaml) for this server",
        description="Renders the admission webhook template with the server's URL and CA (docs/admission.md).",
    )
    config.add_argument(
        "--ca-file", required=True, help="CA bundle (PEM) that signed the webhook's serving certificate"
    )
    config.add_argument("--url", default="https://127.0.0.1:9443", help="https://host:port of the webhook server")
    config.add_argument("--manifest", default=None, help="the template (default: the repository's manifests/)")
    config.add_argument(
        "--node-guard",
        choices=["policy", "webhook"],
        default="policy",
        help="policy: the ValidatingAdmissionPolicy of manifests/41- is installed (k3s >= 1.30); "
        "webhook: it is not, the Node webhook entry fails closed (default %(default)s)",
    )
    config.set_defaults(run=run_admission_config)


def register_benchmarks(what: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`bench authn` and `bench admission` (the `bench` command itself is k3s_daas.benchmark_commands)."""
    authn = what.add_parser(
        "authn",
        help="TokenReview throughput and latency: no-op baseline, cached and first-seen tokens",
        description="Starts the webhook in a child process and drives it over HTTPS with keep-alive.",
    )
    from k3s_daas_webhook.bench.options import add_admission_options, add_options

    add_options(authn)
    authn.set_defaults(run=run_bench)
    admission = what.add_parser(
        "admission",
        help="AdmissionReview decisions over HTTPS: latency and throughput next to a no-op handler",
        description="Starts the webhook in a child process and drives /validate and /noop over HTTPS keep-alive.",
    )
    add_admission_options(admission)
    admission.set_defaults(run=run_bench_admission)


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from k3s_daas_webhook.server import serve_forever

    overrides: dict[str, Any] = {
        name: getattr(args, name) for name, _, _ in _SERVE_FLAGS.values() if getattr(args, name) is not None
    }
    webhook_settings = dataclasses.replace(settings.webhook, **overrides)
    logs.configure(settings.log)
    onchain = None
    if args.onchain_requests or settings.requests.enabled:
        from k3s_daas_webhook.onchain import OnchainRequests

        onchain = OnchainRequests(settings.requests, settings.chain, webhook_settings.kubeconfig)
    asyncio.run(serve_forever(webhook_settings, onchain))
    return 0


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from k3s_daas_webhook.bench.run import run

    return run(args)


def run_admission_config(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    import yaml

    import k3s_daas
    from k3s_daas.controlplane.webhook_wiring import (
        ADMISSION_MANIFEST,
        AdmissionManifestError,
        load_yaml_documents,
        render_admission_webhooks,
    )
    from k3s_daas.errors import UserError

    manifest = Path(args.manifest or Path(k3s_daas.__file__).resolve().parents[1] / "manifests" / ADMISSION_MANIFEST)
    if args.manifest is None and not manifest.exists():
        raise UserError(
            f"{manifest} not found: pass --manifest FILE (manifests/ is in a source checkout, not the wheel)"
        )
    try:
        ca_pem = Path(args.ca_file).read_bytes()
        documents = load_yaml_documents(manifest)
        if len(documents) != 1:
            raise AdmissionManifestError("expected exactly one ValidatingWebhookConfiguration")
        (template,) = documents
        rendered = render_admission_webhooks(
            template,
            args.url,
            ca_pem,
            node_guard=args.node_guard,
            operator_username=settings.webhook.operator_username,
            project_namespace=settings.webhook.project_namespace,
        )
    except OSError as error:
        raise UserError(f"cannot read {error.filename}: {error.strerror}") from None
    except (AdmissionManifestError, ValueError, yaml.YAMLError) as error:
        raise UserError(f"{manifest}: {error}") from None
    print(yaml.safe_dump(rendered, sort_keys=False), end="")
    return 0


def run_bench_admission(args: argparse.Namespace, settings: Settings) -> int:
    from k3s_daas_webhook.bench.admission import run

    return run(args)
