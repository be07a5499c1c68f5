"""A development webhook's enclave key registered on localnet, so its executor signs answers the chain
accepts (docs/onchain-requests.md, "Development mode"). Used by `k3s-daas up --onchain-requests` and
`k3s-daas bench request`; `k3s-daas localnet register-development-enclave` is the same system call.

A development key is bound by no Nitro document, so it is registered with ``enclave::register_for_testing``
as a localnet system call on the chain's database, under the configuration's PCRs. A chain whose PCRs
were never set gets the development values below first (``enclave::update_pcrs``, by the admin).
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from k3s_daas.errors import UserError
from k3s_daas.localnet.client import LocalnetClient
from k3s_daas.localnet.enclave import SYSTEM_SENDER, register_for_testing_call
from k3s_daas.localnet.store import Store
from k3s_daas.sui.crypto import Keypair

# Labelled values, never an image's: a development chain says so in its EnclaveConfig.
DEVELOPMENT_PCRS: Final = tuple(hashlib.sha384(f"k3s-daas development PCR{i}".encode()).digest() for i in range(3))
_OBJECT_JSON: Final = "query($id: SuiAddress!) { object(address: $id) { asMoveObject { contents { json } } } }"


@dataclass(frozen=True)
class Registered:
    digest: str
    enclave_id: str


def ensure_pcrs(chain: LocalnetClient, admin: Keypair) -> bool:
    """Set the development PCRs if the chain has none (True); PCRs already set are kept (False)."""
    config_id = chain.info().get("enclaveConfigId")
    found = chain.graphql(_OBJECT_JSON, {"id": config_id})["object"] if config_id else None
    if not found:
        raise UserError(f"localnet at {chain.base_url} has no EnclaveConfig: is it a current localnet?")
    if found["asMoveObject"]["contents"]["json"].get("pcr0"):
        return False
    cap = chain.admin_cap(admin.address)
    if cap is None:
        raise UserError(f"{admin.address} holds no AdminCap on {chain.base_url}: it cannot set the PCRs")
    pcrs = {f"pcr{i}": base64.b64encode(pcr).decode() for i, pcr in enumerate(DEVELOPMENT_PCRS)}
    chain.call(admin, "enclave", "update_pcrs", {"cap": cap, **pcrs})
    return True


def register_development_enclave(db: Path, public_key: bytes, owner: str = SYSTEM_SENDER) -> Registered:
    """``enclave::register_for_testing`` on localnet's database (a system call has no signer, so it
    cannot travel over HTTP)."""
    store = Store(db)
    now = int(time.time() * 1000) + store.clock_offset_ms()  # the chain's clock, as its server keeps it
    committed = store.execute(register_for_testing_call(public_key, now, owner), SYSTEM_SENDER, now)
    (event,) = committed.effects.events
    return Registered(committed.transaction.digest, str(event.contents["enclave_id"]))


def webhook_public_key(url: str, ca_file: Path) -> bytes:
    """The enclave key a webhook's /attestation names."""
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with urllib.request.urlopen(f"{url}/attestation", context=context, timeout=10) as answer:  # noqa: S310
            return bytes.fromhex(json.loads(answer.read())["public_key"])
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"cannot read the enclave key from {url}/attestation: {error}") from None
