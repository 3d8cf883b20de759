"""Write coalescing (``proxy/writes.py``) over real sockets: order, one write per iteration,
graceful close flushes, abort drops, log hooks after the iteration's writes."""

from __future__ import annotations

import asyncio

from enginekit import connect, get, proxy, read_response, run, stand_in

from carbonplane.proxy.writes import WriteBatch


class CountingTransport:
    """Delegates to a real transport and counts ``write`` calls."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.inner = transport
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.inner.write(data)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Sender(asyncio.Protocol):
    """The protocol side of the batch contract: ``outbuf`` and ``transport``."""

    def __init__(self, batch: WriteBatch) -> None:
        self.batch = batch
        self.outbuf: list[bytes] = []
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = CountingTransport(transport)

    def send_bytes(self, data: bytes) -> None:
        if not self.outbuf:
            self.batch.schedule(self)
        self.outbuf.append(data)


async def _pair(batch: WriteBatch):
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future = loop.create_future()

    async def on_client(reader, writer):
        accepted.set_result((reader, writer))

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, sender = await loop.create_connection(lambda: Sender(batch), "127.0.0.1", port)
    reader, writer = await accepted
    return server, sender, reader, writer


def test_pieces_of_one_iteration_leave_in_order_in_one_write():
    async def scenario():
        batch = WriteBatch(asyncio.get_running_loop())
        server, sender, reader, writer = await _pair(batch)
        for piece in (b"one ", b"two ", b"three"):
            sender.send_bytes(piece)
        assert sender.transport.writes == 0  # nothing leaves before the iteration ends
        assert await reader.readexactly(13) == b"one two three"
        assert sender.transport.writes == 1
        sender.send_bytes(b"four")
        assert await reader.readexactly(4) == b"four"
        assert sender.transport.writes == 2
        writer.close()
        server.close()

    run(scenario())


def test_log_hooks_run_once_per_iteration_after_its_writes_and_survive_a_failing_hook():
    async def scenario():
        loop = asyncio.get_running_loop()
        batch = WriteBatch(loop)
        server, sender, reader, writer = await _pair(batch)
        seen: list = []

        def record(ctx):
            seen.append((ctx, sender.transport.writes))  # how many writes had gone out

        def broken(ctx):
            raise RuntimeError("a buggy log filter")

        sender.send_bytes(b"response")
        for ctx in ("first", "second"):
            batch.schedule_log((broken, record), ctx)
        assert seen == []  # nothing runs inside the iteration that finished the requests
        await asyncio.sleep(0)
        assert seen == [("first", 1), ("second", 1)]  # after the write, both, in order
        assert await reader.readexactly(8) == b"response"
        batch.schedule_log((record,), "third")  # a log with no write still gets its callback
        await asyncio.sleep(0)
        assert seen[-1] == ("third", 1)
        writer.close()
        server.close()

    run(scenario())


def test_bytes_queued_for_an_aborted_transport_are_dropped():
    async def scenario():
        batch = WriteBatch(asyncio.get_running_loop())
        server, sender, reader, writer = await _pair(batch)
        sender.send_bytes(b"never sent")
        sender.transport.inner.abort()
        assert await reader.read() == b""  # the peer sees the connection end, no bytes
        assert sender.transport.writes == 0
        writer.close()
        server.close()

    run(scenario())


def test_pipelined_requests_ending_with_close_get_every_response_before_eof():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            last = b"GET /bytes/3 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
            writer.write(get(b"/bytes/1") + get(b"/bytes/2") + last)
            sizes = [len((await read_response(reader)).body) for _ in range(3)]
            assert sizes == [1, 2, 3]
            assert await reader.read() == b""  # closed after the flushed third response
            writer.close()

    run(scenario())
