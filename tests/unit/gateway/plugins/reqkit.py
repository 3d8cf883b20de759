"""Requests and responses for the plugin unit tests: request contexts whose heads are parsed from
raw HTTP by the engine's own parser, upstream and proxy-made response heads given to a context as
the engine gives them, and readers for what a hook left behind (headers, refusals, JSON bodies).

Plugin handlers, configs and schema problems come from ``tests.kits.plugins``; signed JWTs from
``tests.kits.jwts``.

Invariants: a context is made as the engine makes it (client 203.0.113.7 unless told, request id
``req-1``, ``upstream_target`` = path + query); nothing here runs a hook except ``run``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Any

from carbonplane.http import Limits, RequestHeadParser
from carbonplane.http.model import ResponseHead
from carbonplane.proxy.app import Client, LocalResponse, RequestContext

_PARSER = RequestHeadParser(Limits())
REQUEST_ID = b"req-1"


def request(
    method: str = "GET",
    target: str = "/",
    headers: dict | list | None = None,
    *,
    client_ip: str = "203.0.113.7",
    started_ms: int | None = None,
    body_framing: str | None = None,
) -> RequestContext:
    """A context for ``method target`` with its head parsed by the engine's parser.

    ``started_ms``: the request's wall-clock start (now by default); ``body_framing``: None,
    ``"length:N"`` or ``"chunked"`` (adds the framing header; no body is read)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    lines = [f"{method} {target} HTTP/1.1", "Host: gw.test", *(f"{k}: {v}" for k, v in items)]
    if body_framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
    elif body_framing:
        lines.append(f"Content-Length: {body_framing.split(':')[1]}")
    head = _PARSER.parse(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    client = Client(client_ip, 40000, False, b"http", 8000)
    started = started_ms if started_ms is not None else int(time.time() * 1000)
    ctx = RequestContext(head, client, client_ip, REQUEST_ID, time.monotonic(), started)
    ctx.upstream_target = head.path + head.query
    return ctx


def respond(
    ctx: RequestContext, status: int = 200, headers: list | None = None, body_size: int = 0
) -> RequestContext:
    """Give ``ctx`` an upstream response head (as the engine does when it arrives)."""
    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or [])]
    ctx.response = ResponseHead(status, b"OK", b"1.1", hdrs)
    ctx.source = "upstream"
    ctx.response_bytes = body_size
    return ctx


def local_response(ctx: RequestContext, local: LocalResponse) -> RequestContext:
    """Give ``ctx`` the head of a proxy-made response (as the engine does before its hooks)."""
    headers, _ = local.render(ctx.request_id)
    ctx.response = ResponseHead(local.status, b"", b"1.1", list(headers))
    ctx.source = "proxy"
    return ctx


def run(verdict: Any) -> Any:
    """A hook's verdict, awaiting it when it is a coroutine."""
    if inspect.isawaitable(verdict):
        return asyncio.run(_await(verdict))
    return verdict


async def _await(awaitable: Any) -> Any:
    return await awaitable


def header(headers: list, name: str) -> str | None:
    """The first value of ``name`` (case-insensitive) in a header list, as text."""
    key = name.lower().encode()
    for n, v in headers:
        if n == key:
            return v.decode()
    return None


def all_headers(headers: list) -> dict[str, str]:
    """A header list as ``{name: value}`` text (the last value of a repeated name wins)."""
    return {n.decode(): v.decode() for n, v in headers}


def upstream_headers(ctx: RequestContext) -> dict[str, list[str]]:
    """The request headers that would go upstream, every value of each name in order."""
    out: dict[str, list[str]] = {}
    for name, value in ctx.request.headers:
        out.setdefault(name.decode(), []).append(value.decode())
    return out


def body_json(local: LocalResponse, request_id: bytes = REQUEST_ID) -> dict:
    """The decoded JSON body of a proxy-made response."""
    _, body = local.render(request_id)
    return json.loads(body)


def refusal(verdict: Any) -> tuple[int, Any, dict[str, str]]:
    """(status, decoded JSON body, headers) of a LocalResponse verdict; fails on anything else."""
    assert isinstance(verdict, LocalResponse), verdict
    headers, body = verdict.render(REQUEST_ID)
    return verdict.status, json.loads(body), all_headers(headers)
