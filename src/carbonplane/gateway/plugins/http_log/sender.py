"""The http-log client: one HTTP/1.1 request per batch to the log endpoint, on asyncio streams.

A small client of our own (the response is read by the sans-IO ``ResponseReader`` of
``carbonplane.http``), keeping one connection alive between batches for ``keepalive`` ms. Kong's
request: ``method`` to the endpoint's path and query, ``Host`` from the URL, ``Content-Type``,
``Content-Length``, ``Authorization: Basic`` when the URL has userinfo, plus configured headers.
A 2xx answer is success; anything else, a connection failure or a timeout raises
``LogDeliveryError`` with Kong's wording ("request to host:port returned status code 500 and body
...", "failed request to host:port: ...").
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from carbonplane.errors import CarbonplaneError, HttpError
from carbonplane.http.headparser import ResponseHeadParser
from carbonplane.http.model import END_OF_MESSAGE, NEED_DATA, Limits
from carbonplane.http.reader import ResponseReader


class LogDeliveryError(CarbonplaneError):
    """A batch of log entries could not be delivered to the log endpoint."""


class LogSender:
    """Sends batches to one endpoint; not safe for concurrent use (one per in-flight batch)."""

    def __init__(
        self,
        endpoint: str,
        method: str,
        content_type: str,
        timeout_ms: float,
        keepalive_ms: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.where = f"{self.host}:{self.port}"
        self.timeout = timeout_ms / 1000.0
        self.keepalive = keepalive_ms / 1000.0
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {host_header}",
            f"Content-Type: {content_type}",
        ]
        if parts.username is not None:
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            lines.append("Authorization: Basic " + base64.b64encode(userinfo.encode()).decode())
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self._method = method.encode()
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._idle_since = 0.0
        self._parser = ResponseHeadParser(Limits())

    async def send(self, body: bytes) -> None:
        """POST (or PUT/PATCH) one batch; raises ``LogDeliveryError``."""
        try:
            await asyncio.wait_for(self._exchange(body), self.timeout)
        except LogDeliveryError:
            self.close()
            raise
        except (OSError, asyncio.TimeoutError, HttpError, EOFError) as exc:
            self.close()
            reason = (
                "timeout"
                if isinstance(exc, asyncio.TimeoutError)
                else str(exc) or type(exc).__name__
            )
            raise LogDeliveryError(f"failed request to {self.where}: {reason}") from exc

    async def _exchange(self, body: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self._conn is not None and loop.time() - self._idle_since > self.keepalive:
            self.close()
        if self._conn is None:
            context = ssl.create_default_context() if self.https else None
            self._conn = await asyncio.open_connection(self.host, self.port, ssl=context)
        reader, writer = self._conn
        writer.write(self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        status, response_body, keep_alive = await self._read_response(reader)
        if keep_alive:
            self._idle_since = loop.time()
        else:
            self.close()
        if status >= 300:
            text = response_body[:512].decode("utf-8", "replace")
            raise LogDeliveryError(
                f"request to {self.where} returned status code {status} and body {text}"
            )

    async def _read_response(self, reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        messages = ResponseReader(self._parser)
        messages.expect(self._method)
        head = None
        body: list[bytes] = []
        while True:
            event = messages.next_event()
            if event is NEED_DATA:
                data = await reader.read(65536)
                if data:
                    messages.feed(data)
                else:
                    messages.feed_eof()
            elif event is END_OF_MESSAGE:
                return head.status, b"".join(body), head.keep_alive
            elif isinstance(event, bytes):
                body.append(event)
            elif hasattr(event, "status"):
                head = event
            else:  # CONNECTION_CLOSED before a response
                raise EOFError("connection closed before a response")

    def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None
