"""The serving TLS context, rotated without a restart when the certificate or key file changes.

cert-manager and k3s rotate serving certificates by rewriting the files, not always atomically (the
certificate and the key are two files, written one after the other). A changed pair is loaded into
a fresh context; only when that succeeds does it become the one new handshakes use. The listening
context never changes: its SNI callback (called for every ClientHello, with or without a server
name) hands each new connection the current context. So a half-written or mismatched pair is
reported and ignored (the old certificate keeps serving), connections already open keep their
session, and no handshake ever sees a context in the middle of being changed.
"""

from __future__ import annotations

import asyncio
import hashlib
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


def _stamp(path: Path) -> bytes:
    """The file's content digest: a rewrite in place within the file system's timestamp granularity,
    to the same size, still shows as a change (two small files, read every few seconds)."""
    return hashlib.sha256(path.read_bytes()).digest()


def _load(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = _new_context()
    context.load_cert_chain(cert_file, key_file)
    return context


class ReloadingTLS:
    def __init__(self, cert_file: Path, key_file: Path, on_reload: Callable[[str], None] | None = None) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self._on_reload = on_reload or (lambda result: None)
        try:
            self._stamps = (_stamp(cert_file), _stamp(key_file))
            self._current = _load(cert_file, key_file)
            # The listening context; it serves the first pair too, should a handshake ever skip the callback.
            self.context = _load(cert_file, key_file)
        except FileNotFoundError as error:
            raise TLSFilesError(f"TLS file {error.filename} does not exist") from None
        except (ssl.SSLError, OSError) as error:
            raise TLSFilesError(f"cannot use certificate {cert_file} with key {key_file}: {error}") from None
        self.context.sni_callback = self._select

    def _select(self, connection: ssl.SSLSocket | ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        connection.context = self._current

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed; True when the new pair is now served."""
        try:
            # Taken before reading: a change during the read shows as a new stamp next time.
            stamps = (_stamp(self.cert_file), _stamp(self.key_file))
        except OSError:
            return False  # mid-rotation (a file briefly missing): try again next time
        if stamps == self._stamps:
            return False
        try:
            fresh = _load(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError) as error:
            log.warning("new TLS certificate/key not usable yet, still serving the old one: %s", error)
            self._on_reload("failed")
            return False
        self._current = fresh
        self._stamps = stamps
        log.info("TLS certificate reloaded from %s", self.cert_file)
        self._on_reload("reloaded")
        return True

    async def watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.reload_if_changed()
            except Exception:
                # The reloader must outlive any surprise: without it the certificate silently expires.
                log.exception("checking the TLS files failed; trying again in %.1f s", interval_s)


__all__ = ["ReloadingTLS", "TLSFilesError"]
