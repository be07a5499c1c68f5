"""A lean HTTPS/1.1 keep-alive load generator on asyncio protocols.

The client shares the machine's two cores with the server, so it must cost as little as possible per
request: requests are pre-encoded bytes, responses are parsed only as far as Content-Length, and
each connection is a Protocol driven by data_received (no streams, no per-request tasks).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

_HEADER_END = b"\r\n\r\n"
AUTHENTICATED = b'"authenticated":true'
"""What a 200 answer must contain to count as the expected answer (``Results.authenticated``)."""


def encode_request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    authenticated: int = 0
    other: int = 0
    errors: int = 0
    started: float = 0.0
    finished: float = 0.0
    server_cpu_s: float = 0.0
    """CPU time (user + system) the server and its workers spent during the run."""
    client_cpu_s: float = 0.0
    """CPU time this load generator spent during the run (it shares the machine with the server)."""

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        elapsed = self.finished - self.started
        return self.count / elapsed if elapsed > 0 else 0.0

    def merge(self, other: Results) -> None:
        """Add ``other``'s requests; elapsed times add up (the runs were back to back, not parallel)."""
        elapsed = (self.finished - self.started) + (other.finished - other.started)
        self.latencies.extend(other.latencies)
        self.authenticated += other.authenticated
        self.other += other.other
        self.errors += other.errors
        self.server_cpu_s += other.server_cpu_s
        self.client_cpu_s += other.client_cpu_s
        self.started, self.finished = 0.0, elapsed

    @property
    def server_cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.count * 1e6 if self.count else float("nan")

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class _Connection(asyncio.Protocol):
    def __init__(self, driver: _ClosedLoop) -> None:
        self._driver = driver
        self._buffer = bytearray()
        self._sent_at = 0.0
        self._transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def send_next(self) -> None:
        request = self._driver.next_request()
        if request is None or self._transport is None:
            if self._transport is not None:
                self._transport.close()
            return
        self._sent_at = time.perf_counter()
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = buffer.find(_HEADER_END)
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        start = head.find(b"content-length:")
        if start < 0:
            self._driver.results.errors += 1
            buffer.clear()
            return
        line_end = head.find(b"\r\n", start)
        length = int(head[start + 15 : line_end if line_end > 0 else len(head)])
        total = end + 4 + length
        if len(buffer) < total:
            return
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        self._driver.record(time.perf_counter() - self._sent_at, head.startswith(b"http/1.1 200"), body)
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _ClosedLoop:
    def __init__(self, requests: Iterator[bytes], deadline: float, limit: int | None, marker: bytes) -> None:
        self._requests = requests
        self._marker = marker
        self.deadline = deadline
        self._remaining = limit
        self.results = Results()

    def next_request(self) -> bytes | None:
        if time.perf_counter() >= self.deadline:
            return None
        if self._remaining is not None:
            if self._remaining <= 0:
                return None
            self._remaining -= 1
        return next(self._requests, None)

    def record(self, latency: float, ok: bool, body: bytes) -> None:
        results = self.results
        results.latencies.append(latency)
        if ok and self._marker in body:
            results.authenticated += 1
        elif ok:
            results.other += 1
        else:
            results.errors += 1


async def closed_loop(
    port: int,
    context: ssl.SSLContext,
    requests: Iterator[bytes],
    *,
    connections: int,
    duration_s: float,
    limit: int | None = None,
    marker: bytes = AUTHENTICATED,
) -> Results:
    """``connections`` keep-alive connections, each sending its next request when the last is answered.

    Stops at ``duration_s`` or after ``limit`` requests, whichever comes first.
    """
    loop = asyncio.get_running_loop()
    driver = _ClosedLoop(requests, float("inf"), limit, marker)
    protocols: list[_Connection] = []
    for _ in range(connections):  # connect and handshake before the clock starts
        _, protocol = await loop.create_connection(
            lambda: _Connection(driver), "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
        )
        protocols.append(protocol)
    driver.results.started = time.perf_counter()
    driver.deadline = driver.results.started + duration_s
    for protocol in protocols:
        protocol.send_next()
    await asyncio.gather(*(protocol.closed for protocol in protocols))
    driver.results.finished = time.perf_counter()
    return driver.results


async def paced(
    port: int,
    context: ssl.SSLContext,
    requests: Iterator[bytes],
    *,
    rate: float,
    duration_s: float,
    marker: bytes = AUTHENTICATED,
) -> Results:
    """One connection at ``rate`` requests/s (never more than one outstanding): latency without queueing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
    results = Results()
    interval = 1.0 / rate
    results.started = time.perf_counter()
    next_send = results.started
    try:
        while (now := time.perf_counter()) < results.started + duration_s:
            if next_send > now:
                await asyncio.sleep(next_send - now)
            request = next(requests, None)
            if request is None:
                break
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(_HEADER_END)
            lowered = head.lower()
            start = lowered.find(b"content-length:")
            length = int(lowered[start + 15 : lowered.find(b"\r\n", start)])
            body = await reader.readexactly(length)
            latency = time.perf_counter() - sent
            results.latencies.append(latency)
            if lowered.startswith(b"http/1.1 200") and marker in body:
                results.authenticated += 1
            elif lowered.startswith(b"http/1.1 200"):
                results.other += 1
            else:
                results.errors += 1
            next_send += interval
    finally:
        writer.close()
    results.finished = time.perf_counter()
    return results
