"""`k3s-daas operator`: run the operator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging

from k3s_daas.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "operator",
        help="run the operator: verify SealTokens and StakedNodes against Sui, grant RBAC, drain slashed nodes",
        description="The kopf operator. Flags override K3S_DAAS_* settings (docs/operator.md).",
    )
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: KUBECONFIG, in-cluster)")
    parser.add_argument("--namespace", default=None, help="namespace of the operator's state (event cursor)")
    parser.add_argument("--verify-interval", type=_seconds, default=None, metavar="S", help="re-verify Active objects")
    parser.add_argument("--resync-interval", type=_seconds, default=None, metavar="S", help="full chain re-read")
    parser.add_argument("--poll-interval", type=_seconds, default=None, metavar="S", help="chain event polling")
    parser.add_argument("--drain-deadline", type=_seconds, default=None, metavar="S", help="drain before NoExecute")
    parser.add_argument("--bootstrap-token-ttl", type=_seconds, default=None, metavar="S", help="join token lifetime")
    parser.add_argument(
        "--create-from-events",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="create SealTokens/StakedNodes from SealTokenIssued/Staked events",
    )
    parser.add_argument("--metrics-port", type=int, default=None, metavar="PORT", help="0 turns /metrics off")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(run=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def apply_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    flags = {
        "kubeconfig": args.kubeconfig,
        "namespace": args.namespace,
        "verify_interval_s": args.verify_interval,
        "resync_interval_s": args.resync_interval,
        "event_poll_interval_s": args.poll_interval,
        "drain_deadline_s": args.drain_deadline,
        "bootstrap_token_ttl_s": args.bootstrap_token_ttl,
        "create_from_events": args.create_from_events,
        "metrics_port": args.metrics_port,
    }
    changes = {k: v for k, v in flags.items() if v is not None}
    return dataclasses.replace(settings, operator=dataclasses.replace(settings.operator, **changes))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from k3s_daas_operator.runtime import run_operator

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kopf logs each watched object's handling; the engine logs transitions instead.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # pysui's HTTP client logs every request (several per second while polling events).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(run_operator(apply_flags(settings, args)))
    return 0
