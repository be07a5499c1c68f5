"""A TCP proxy in front of localnet that can break the chain on demand (test helper, stdlib only).

Modes, switchable at any time from the test thread:

* ``pass``: forward bytes both ways;
* ``down``: refuse connections, as a stopped endpoint does (the listener is closed and re-opened on
  the same port when the mode changes back);
* ``garbage``: answer every request with ``200 OK`` and a body that is not GraphQL;
* ``slow``: forward, but only after ``delay_s`` (longer than the client's timeout: "answers slowly");
* ``no-objects``: forward every request but object reads (GraphQL operation ``ObjectsWithEntries``),
  answered ``503``: the chain serves its event stream but not the objects the events name.

Connections open when the mode changes are cut, so a keep-alive connection cannot outlive an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Final

MODES: Final = ("pass", "down", "garbage", "slow", "no-objects")
_GARBAGE: Final = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n{"not": graphql ]]]'
_UNAVAILABLE: Final = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
_OBJECT_READ: Final = b"query ObjectsWithEntries"


class ChainProxy:
    def __init__(self, upstream_port: int, *, delay_s: float = 3.0) -> None:
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self.mode = "pass"
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chain-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> ChainProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: use one of {', '.join(MODES)}")
        self._call(self._switch(mode))

    def stop(self) -> None:
        self._call(self._switch("down"))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port or 0, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _switch(self, mode: str) -> None:
        self.mode = mode
        for writer in list(self._open):
            writer.close()
        self._open.clear()
        if mode == "down" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        elif mode != "down" and self._server is None:
            await self._listen()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open.add(writer)
        try:
            if self.mode == "garbage":
                while await reader.read(65536):
                    writer.write(_GARBAGE)
                    await writer.drain()
                return
            if self.mode == "no-objects":
                await self._filter_requests(reader, writer)
                return
            if self.mode == "slow":
                await asyncio.sleep(self.delay_s)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self._open.add(up_writer)
            await asyncio.gather(_pipe(reader, up_writer, self), _pipe(up_reader, writer, self))
        except OSError:
            pass
        finally:
            writer.close()
            self._open.discard(writer)

    async def _filter_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One HTTP request at a time (keep-alive): object reads get a 503, the rest go upstream."""
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._open.add(up_writer)
        try:
            while request := await _http_message(reader):
                if _OBJECT_READ in request:
                    writer.write(_UNAVAILABLE)
                else:
                    up_writer.write(request)
                    writer.write(await _http_message(up_reader))
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            up_writer.close()


async def _http_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message (head and Content-Length body); empty at a clean end of the stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return b""
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise OSError("the chain proxy only relays Content-Length bodies")
    return head + await reader.readexactly(length)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, proxy: ChainProxy) -> None:
    try:
        while data := await source.read(65536):
            if proxy.mode == "slow":
                await asyncio.sleep(proxy.delay_s)
            sink.write(data)
            await sink.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.close()
