"""An optional on-disk cache of minted tokens, so repeated kubectl runs do not re-sign.

kubectl keeps an exec credential only for the life of its process; every `kubectl get` would sign
again. With the cache a token is reused while it has more than the refresh margin left. Entries are
files readable by their owner only, named by a hash of (cluster, address, SealToken), holding only
the token; a cached token is verified again before use, so a damaged or swapped file is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from k3s_daas.credential.execcredential import REFRESH_MARGIN_S
from k3s_daas.sealtoken import TokenRejected, verify_token


def default_cache_dir(environ: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".cache")
    return Path(base) / "k3s-daas" / "tokens"


def _entry_path(directory: Path, cluster_id: str, address: str, seal_token: str | None) -> Path:
    key = hashlib.sha256(f"{cluster_id}\0{address}\0{seal_token or ''}".encode()).hexdigest()[:32]
    return directory / f"{key}.json"


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: int


def load(directory: Path, cluster_id: str, address: str, seal_token: str | None, now: float) -> CachedToken | None:
    path = _entry_path(directory, cluster_id, address, seal_token)
    try:
        token = json.loads(path.read_text(encoding="utf-8"))["token"]
        # The server's lifetime cap is not known here; it judges that itself.
        verified = verify_token(str(token), audience=cluster_id, now=now, max_lifetime_s=float("inf"))
    except (OSError, ValueError, KeyError, TypeError, TokenRejected):
        return None
    fresh = verified.claims.expires_at - now > 2 * REFRESH_MARGIN_S
    if not fresh or verified.address != address or verified.claims.seal_token != seal_token:
        return None
    return CachedToken(str(token), verified.claims.expires_at)


def store(directory: Path, cluster_id: str, address: str, seal_token: str | None, token: str) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = _entry_path(directory, cluster_id, address, seal_token)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".token.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"token": token}, handle)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
        raise
