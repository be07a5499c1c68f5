"""The benchmark's server process: the real webhook stack with a static identity index.

Run as ``python -m k3s_daas_webhook.bench.server CONFIG.json``; prints ``ready <port>`` once listening.
A separate process so that client and server do not share a GIL, as in production.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from k3s_daas.settings import WebhookSettings
from k3s_daas_webhook.index import IdentitySnapshot, IndexHolder, entry_from_resource
from k3s_daas_webhook.server import build


async def _main(config: dict[str, object], resources: list[dict[str, object]]) -> None:
    entries = [entry for resource in resources if (entry := entry_from_resource(resource)) is not None]
    holder = IndexHolder(IdentitySnapshot.build(entries), synced=True)
    settings = WebhookSettings(
        host="127.0.0.1",
        port=0,
        cert_file=str(config["cert"]),
        key_file=str(config["key"]),
        cluster_id=str(config["cluster_id"]),
        verify_workers=int(str(config["verify_workers"])),
        verified_cache_size=int(str(config["cache_size"])),
    )
    webhook = build(settings, holder)
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
