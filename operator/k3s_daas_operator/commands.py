"""`k3s-daas operator`: run the operator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

from k3s_daas import logs
from k3s_daas.settings import LOG_LEVELS, Settings


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
    parser.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run only while holding the Lease k3s-daas-operator (replicas become active-standby)",
    )
    parser.add_argument("--heartbeat-interval", type=_seconds, default=None, metavar="S", help="chain heartbeat")
    parser.add_argument(
        "--log-level",
        dest="operator_log_level",
        default=None,
        choices=LOG_LEVELS,
        help="same as the global --log-level (default: settings, INFO)",
    )
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
        "leader_election": args.leader_election,
        "heartbeat_interval_s": args.heartbeat_interval,
    }
    changes = {k: v for k, v in flags.items() if v is not None}
    return dataclasses.replace(settings, operator=dataclasses.replace(settings.operator, **changes))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from k3s_daas_operator.runtime import run_operator

    log_settings = settings.log
    if args.operator_log_level is not None:
        log_settings = dataclasses.replace(log_settings, level=args.operator_log_level)
    # kopf's own records (and its per-object loggers) go through the same handler and format.
    logs.configure(log_settings)
    asyncio.run(run_operator(apply_flags(settings, args)))
    return 0
