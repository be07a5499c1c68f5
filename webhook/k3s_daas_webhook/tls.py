"""The serving TLS context, reloaded in place when the certificate or key file changes.

cert-manager and k3s rotate serving certificates by rewriting the files. ``load_cert_chain`` on the
live context affects every handshake after it, while connections already open keep their session:
no restart, no dropped requests. A new pair is first loaded into a scratch context, so a half-written
or mismatched pair is reported and the old certificate stays in service.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from k3s_daas.errors import UserError

log = logging.getLogger(__name__)


class TLSFilesError(UserError):
    """The certificate or key file cannot be used."""


def _new_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _stamp(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class ReloadingTLS:
    def __init__(self, cert_file: Path, key_file: Path, on_reload: Callable[[str], None] | None = None) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self._on_reload = on_reload or (lambda result: None)
        self.context = _new_context()
        try:
            self._stamps = (_stamp(cert_file), _stamp(key_file))
            self.context.load_cert_chain(cert_file, key_file)
        except FileNotFoundError as error:
            raise TLSFilesError(f"TLS file {error.filename} does not exist") from None
        except (ssl.SSLError, OSError) as error:
            raise TLSFilesError(f"cannot use certificate {cert_file} with key {key_file}: {error}") from None

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed; True when the new pair is now served."""
        try:
            stamps = (_stamp(self.cert_file), _stamp(self.key_file))
        except OSError:
            return False  # mid-rotation (a file briefly missing): try again next time
        if stamps == self._stamps:
            return False
        try:
            _new_context().load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError) as error:
            log.warning("new TLS certificate/key not usable yet, still serving the old one: %s", error)
            self._on_reload("failed")
            return False
        self.context.load_cert_chain(self.cert_file, self.key_file)
        self._stamps = stamps
        log.info("TLS certificate reloaded from %s", self.cert_file)
        self._on_reload("reloaded")
        return True

    async def watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.reload_if_changed()


__all__ = ["ReloadingTLS", "TLSFilesError"]
