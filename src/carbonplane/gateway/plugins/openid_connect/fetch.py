"""The openid-connect plugin's HTTP client: one GET or form POST to the identity provider on
asyncio streams (discovery, JWKS, RFC 7662 introspection), answered as parsed JSON.

Invariants:
- it never blocks the event loop: connect, write and read are awaited, the whole exchange is
  bounded by ``timeout`` seconds, the answer by ``MAX_BODY`` bytes;
- one request per connection (``Connection: close``): these calls are rare (cached), so a pool
  would only hold sockets open on the provider;
- every failure - refused connection, timeout, a non-2xx status (introspection answers 200 for
  inactive tokens too), a body that is not a JSON object - raises ``ProviderError`` naming the
  URL and what was wrong; the caller decides what the request gets (never a 500).
The response is read by the sans-IO ``ResponseReader`` of ``carbonplane.http``, as http-log does.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit

import msgspec

from carbonplane.errors import CarbonplaneError, HttpError
from carbonplane.http.headparser import ResponseHeadParser
from carbonplane.http.model import END_OF_MESSAGE, NEED_DATA, Limits
from carbonplane.http.reader import ResponseReader

MAX_BODY = 1 << 20  # a discovery document or key set larger than 1 MiB is refused
_json = msgspec.json.Decoder()


class ProviderError(CarbonplaneError):
    """The identity provider could not be reached or gave an unusable answer."""


def basic_auth(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-urlencoded, then ``id:secret`` in base64."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


async def get_json(url: str, timeout: float) -> dict:
    """GET ``url`` and return its JSON object."""
    return await _exchange("GET", url, None, {}, timeout)


async def post_form(
    url: str, form: Mapping[str, str], headers: Mapping[str, str], timeout: float
) -> dict:
    """POST ``form`` (application/x-www-form-urlencoded) and return the JSON object answered."""
    body = urlencode(list(form.items())).encode("ascii")
    return await _exchange("POST", url, body, headers, timeout)


async def _exchange(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float
) -> dict:
    try:
        status, payload = await asyncio.wait_for(_request(method, url, body, headers), timeout)
    except asyncio.TimeoutError as exc:
        raise ProviderError(f"{method} {url}: no answer within {timeout:g} s") from exc
    except (OSError, HttpError, EOFError, ValueError) as exc:
        raise ProviderError(f"{method} {url}: {exc or type(exc).__name__}") from exc
    if not 200 <= status < 300:
        text = payload[:200].decode("utf-8", "replace")
        raise ProviderError(f"{method} {url}: status {status} ({text})")
    try:
        value = _json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ProviderError(f"{method} {url}: the answer is not JSON ({exc})") from exc
    if type(value) is not dict:
        raise ProviderError(f"{method} {url}: the answer is not a JSON object")
    return value


async def _request(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str]
) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    context = ssl.create_default_context() if https else None
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {parts.netloc.rpartition('@')[2]}",
            "Accept: application/json",
            "Connection: close",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        await writer.drain()
        return await _read_response(reader, method.encode())
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader, method: bytes) -> tuple[int, bytes]:
    messages = ResponseReader(ResponseHeadParser(Limits()))
    messages.expect(method)
    head = None
    body: list[bytes] = []
    size = 0
    while True:
        event = messages.next_event()
        if event is NEED_DATA:
            data = await reader.read(65536)
            if data:
                messages.feed(data)
            else:
                messages.feed_eof()
        elif event is END_OF_MESSAGE:
            return head.status, b"".join(body)
        elif isinstance(event, bytes):
            size += len(event)
            if size > MAX_BODY:
                raise ValueError(f"the answer is larger than {MAX_BODY} bytes")
            body.append(event)
        elif hasattr(event, "status"):
            head = event
        else:
            raise EOFError("connection closed before a response")
