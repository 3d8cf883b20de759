"""A real WebSocket upstream (the ``websockets`` package) on a background loop, and raw-socket
handshake helpers, for the gateway's WebSocket tests.

``WsUpstream`` serves on 127.0.0.1 (free port), over TLS when given a server ``ssl`` context:

- any path: echoes every message back (text stays text, binary stays binary);
- ``/close-after``: sends ``"bye"`` and closes with code 4000, reason ``"server done"``;
- ``/plain``: refuses to switch protocols and answers ``200`` with the body ``plain answer``.

It counts handshakes it accepted (``opened``), connections that ended (``closed``) and keeps the
request headers of the last handshake (``last_headers``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import threading
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


class WsUpstream:
    def __init__(self, ssl_context=None) -> None:
        self.ssl_context = ssl_context
        self.port = 0
        self.opened = 0
        self.closed = 0
        self.last_headers: dict[str, str] = {}
        self.close_codes: list[int | None] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = None

    async def _handler(self, ws) -> None:
        self.opened += 1
        try:
            if ws.request.path == "/close-after":
                await ws.send("bye")
                await ws.close(4000, "server done")
                return
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            self.close_codes.append(ws.close_code)
            self.closed += 1

    def _process_request(self, connection, request):
        self.last_headers = {k.lower(): v for k, v in request.headers.raw_items()}
        if request.path == "/plain":
            return connection.respond(HTTPStatus.OK, "plain answer\n")
        return None

    def start(self) -> WsUpstream:
        self._thread.start()

        async def boot():
            self._server = await serve(
                self._handler,
                "127.0.0.1",
                0,
                process_request=self._process_request,
                max_size=32 * 1024 * 1024,
                ssl=self.ssl_context,
            )
            return self._server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def down():
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def handshake(port: int, path: str, extra: str = "", timeout: float = 10.0):
    """Open a raw socket, send a WebSocket handshake for ``path``; return (socket, response
    head bytes, bytes read after the head)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
            f"Upgrade: websocket\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    return sock, head, rest


def masked_text_frame(text: str) -> bytes:
    """One client-to-server text frame (FIN, masked; payloads under 126 bytes)."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + body


def read_until_closed(sock: socket.socket, limit: float) -> bytes:
    """Everything the peer sends until it closes (b"" read) within ``limit`` seconds; raises
    ``TimeoutError`` when it does not close in time."""
    sock.settimeout(limit)
    chunks = []
    while True:
        piece = sock.recv(65536)
        if not piece:
            return b"".join(chunks)
        chunks.append(piece)
