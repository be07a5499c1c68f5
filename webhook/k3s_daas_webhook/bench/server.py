"""The benchmarks' server process: the real webhook stack with static indexes (SealTokens, and for
admission StakedNodes and Namespaces).

Run as ``python -m k3s_daas_webhook.bench.server CONFIG.json``; prints ``ready <port>`` once listening.
A separate process so that client and server do not share a GIL, as in production.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from k3s_daas.settings import WebhookSettings
from k3s_daas_webhook.admission_state import AdmissionSources
from k3s_daas_webhook.index import IdentitySnapshot, entry_from_resource
from k3s_daas_webhook.namespaces import NamespaceOwners
from k3s_daas_webhook.server import build
from k3s_daas_webhook.stakednodes import NodeSnapshot


def _items(config: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The objects in the JSON file ``config[key]`` names (none when the benchmark gives none)."""
    path = config.get(key)
    return list(json.loads(Path(str(path)).read_text())) if path else []


async def _main(config: dict[str, Any], resources: list[dict[str, Any]]) -> None:
    entries = [entry for resource in resources if (entry := entry_from_resource(resource)) is not None]
    admission = AdmissionSources.preloaded(
        IdentitySnapshot.build(entries),
        NodeSnapshot.from_items(_items(config, "stakednodes")),
        NamespaceOwners.from_items(_items(config, "namespaces")),
    )
    settings = WebhookSettings(
        host="127.0.0.1",
        port=0,
        cert_file=str(config["cert"]),
        key_file=str(config["key"]),
        cluster_id=str(config["cluster_id"]),
        verify_workers=int(str(config["verify_workers"])),
        verified_cache_size=int(str(config["cache_size"])),
    )
    webhook = build(settings, admission=admission)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await webhook.start(watch=False, benchmark_noop=True)
    print(f"ready {webhook.port}", flush=True)
    try:
        await stopping.wait()
    finally:
        await webhook.stop()


if __name__ == "__main__":
    settings_file = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(_main(settings_file, json.loads(Path(str(settings_file["index"])).read_text())))
