"""`k3s-daas webhook serve` and `k3s-daas bench authn`.

Heavy imports (aiohttp, kubernetes) happen inside the run functions: the same console script is
kubectl's credential plugin, which must start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

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
}


def register(subparsers: _Subparsers) -> None:
    parser = subparsers.add_parser(
        "webhook",
        help="the webhook server: TokenReview authentication and /join",
        description="HTTPS server the API server calls to authenticate Seal tokens; also serves /join.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="run the server in the foreground")
    for flag, (name, kind, text) in _SERVE_FLAGS.items():
        serve.add_argument(flag, dest=name, type=kind, default=None, help=f"{text} (default: settings)")
    serve.set_defaults(run=run_serve)

    bench = subparsers.add_parser("bench", help="benchmarks (not tests)")
    what = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    authn = what.add_parser(
        "authn",
        help="TokenReview throughput and latency: no-op baseline, cached and first-seen tokens",
        description="Starts the webhook in a child process and drives it over HTTPS with keep-alive.",
    )
    from k3s_daas_webhook.bench.options import add_options

    add_options(authn)
    authn.set_defaults(run=run_bench)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from k3s_daas_webhook.server import serve_forever

    overrides: dict[str, Any] = {
        name: getattr(args, name) for name, _, _ in _SERVE_FLAGS.values() if getattr(args, name) is not None
    }
    webhook_settings = dataclasses.replace(settings.webhook, **overrides)
    _configure_logging()
    asyncio.run(serve_forever(webhook_settings))
    return 0


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from k3s_daas_webhook.bench.run import run

    return run(args)
