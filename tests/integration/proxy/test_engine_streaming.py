"""50 MB bodies stream through a proxy process both ways without its memory growing.

The proxy runs as its own process (``python -m carbonplane.proxy --workers 0``) so that its
peak resident memory (VmHWM) can be read from /proc; the stand-in upstream and the client run
in the test. Flow control must hold: the slow-reading download would otherwise pile the body
up inside the proxy.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys

import pytest
from enginekit import connect, read_response, run, stand_in

MB = 1 << 20
SIZE = 50 * MB
GROWTH_LIMIT = 24 * MB  # the proxy may keep socket-sized buffers, never the body


def memory_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


async def start_proxy(upstream_port: int):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "carbonplane.proxy",
        "--workers",
        "0",
        "--listen",
        "127.0.0.1:0",
        "--route",
        f"/=127.0.0.1:{upstream_port}",
        stdout=asyncio.subprocess.PIPE,
    )
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert line.startswith(b"listening on "), line
    return proc, int(line.split()[2])


async def upload(port: int, chunked: bool) -> tuple[dict, str]:
    reader, writer = await connect(port)
    block = os.urandom(MB)
    digest = hashlib.sha256()
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % SIZE
    writer.write(b"PUT /echo HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n" % framing)
    for _ in range(SIZE // MB):
        digest.update(block)
        writer.write(b"%x\r\n%s\r\n" % (MB, block) if chunked else block)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
    response = await read_response(reader)
    writer.close()
    return response.json(), digest.hexdigest()


async def slow_download(port: int) -> int:
    reader, writer = await connect(port)
    writer.write(b"GET /bytes/%d HTTP/1.1\r\nHost: a\r\n\r\n" % SIZE)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: %d" % SIZE in head.lower()
    received = 0
    while received < SIZE:
        piece = await reader.read(256 * 1024)
        assert piece, "body ended early"
        received += len(piece)
        if received < 8 * MB:
            await asyncio.sleep(0.002)  # a slow client for the first MBs: the proxy must pause
    writer.close()
    return received


@pytest.mark.slow
def test_50mb_bodies_stream_both_ways_in_bounded_memory():
    async def scenario():
        async with stand_in() as up:
            proc, port = await start_proxy(up.port)
            try:
                reader, writer = await connect(port)
                writer.write(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
                await read_response(reader)
                writer.close()
                baseline = memory_kb(proc.pid, "VmRSS") * 1024

                for chunked in (False, True):
                    seen, digest = await upload(port, chunked)
                    assert seen["size"] == SIZE and seen["sha256"] == digest
                assert await slow_download(port) == SIZE

                peak = memory_kb(proc.pid, "VmHWM") * 1024
                print(f"proxy memory: baseline {baseline / MB:.1f} MB, peak {peak / MB:.1f} MB")
                assert peak - baseline < GROWTH_LIMIT, (
                    f"proxy memory grew by {(peak - baseline) / MB:.1f} MB for 50 MB bodies"
                )
            finally:
                proc.terminate()
                await proc.wait()

    run(scenario(), timeout=120)
