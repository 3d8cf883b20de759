"""A real Admin API (``AdminServer`` + ``AdminAPI``) on a loopback port in a background thread,
on uvloop as ``carbonplane gateway start`` runs it, and raw-socket helpers to talk to it as a
hostile client would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from typing import Any

import uvloop

from carbonplane.gateway.admin import AdminAPI
from carbonplane.gateway.admin.guard import AdminGuard
from carbonplane.gateway.admin.server import AdminServer


class RunningAdmin:
    """``with RunningAdmin(token=..., hosts=..., **server_options) as admin: admin.port``."""

    def __init__(
        self,
        *,
        token: str | None = None,
        hosts: tuple[str, ...] = (),
        listen: str = "127.0.0.1",
        **options: Any,
    ):
        self.listen = listen
        self.api = AdminAPI(token=token)
        self.server = AdminServer(self._handle, guard=AdminGuard(token, hosts), **options)
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: uvloop.run(self._main()), daemon=True)

    async def _handle(self, method: str, target: str, headers: list, body: bytes):
        return self.api.handle(method, target, None, headers, body)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.port = await self.server.start(self.listen, 0)
        self._ready.set()
        await self._stop.wait()
        await self.server.close()

    def __enter__(self) -> RunningAdmin:
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the Admin API did not start within 10 s")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def open_connections(self) -> int:
        return len(self.server.connections)


def connect(port: int, timeout: float = 5.0, address: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((address, port), timeout=timeout)


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str | None = None,
    address: str = "127.0.0.1",
) -> tuple[int, dict[str, str], Any]:
    """One request on a fresh connection; headers exactly as given (plus Host, Content-Length)."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host or f'127.0.0.1:{port}'}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with connect(port, address=address) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Read one response framed by Content-Length; JSON bodies decoded."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response head: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    if headers.get("content-type", "").startswith("application/json") and rest:
        return status, headers, json.loads(rest)
    return status, headers, rest


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (EOF or reset), failing after ``limit``."""
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(65536):
                pass
    except TimeoutError:
        raise AssertionError(f"still open after {limit} s") from None
    elapsed = time.monotonic() - start
    if elapsed >= limit:
        raise AssertionError(f"still open after {limit} s")
    return elapsed
