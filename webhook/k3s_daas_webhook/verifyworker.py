"""A signature verification worker: ``python -m k3s_daas_webhook.verifyworker``.

Reads batches of jobs from stdin and writes their results to stdout, each a frame of a 4-byte big
endian length and a pickle. Exits at end of input, so it never outlives the server that feeds it.
"""

from __future__ import annotations

import pickle
import struct
import sys
from typing import BinaryIO, Final

from k3s_daas_webhook.verifypool import Job, run_job

HEADER: Final = struct.Struct(">I")
READY: Final = b"ready"


def read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (length,) = HEADER.unpack(header)
    data = stream.read(length)
    return data if len(data) == length else None


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def main() -> None:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    write_frame(sink, READY)
    while (data := read_frame(source)) is not None:
        jobs: list[Job] = pickle.loads(data)  # noqa: S301 - from the parent server, over our own pipe
        write_frame(sink, pickle.dumps([run_job(job) for job in jobs], protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main()
