"""Helpers for the traffic and observability plugin unit tests: request contexts parsed from raw
HTTP by the engine's parser, upstream responses, handlers built from validated configs the way
the gateway builds them, and running a hook whose verdict may be a coroutine."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import time
from typing import Any

from carbonplane.gateway.config.entities import validate_plugin
from carbonplane.gateway.config.schema import freeze, violation_message
from carbonplane.gateway.plugins import PluginServices, plugin_def
from carbonplane.http import Limits, RequestHeadParser
from carbonplane.http.model import ResponseHead
from carbonplane.proxy.app import Client, LocalResponse, RequestContext

_PARSER = RequestHeadParser(Limits())


def request(
    method: str = "GET",
    target: str = "/",
    headers: dict | list | None = None,
    *,
    client_ip: str = "203.0.113.7",
    started_ms: int | None = None,
) -> RequestContext:
    """A context for ``method target`` with its head parsed by the engine's parser."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    lines = [f"{method} {target} HTTP/1.1", "Host: gw.test", *(f"{k}: {v}" for k, v in items)]
    head = _PARSER.parse(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    client = Client(client_ip, 40000, False, b"http", 8000)
    now = time.monotonic()
    ctx = RequestContext(
        head,
        client,
        client_ip,
        b"req-1",
        now,
        started_ms if started_ms is not None else int(time.time() * 1000),
    )
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


def installed(name: str) -> str:
    """Import (and so register) the plugin package of ``name`` alone."""
    importlib.import_module(f"carbonplane.gateway.plugins.{name.replace('-', '_')}")
    return name


def config(name: str, conf: dict) -> Any:
    """The validated, frozen config of plugin ``name``; fails the test on problems."""
    installed(name)
    out, problems = validate_plugin({"name": name, "config": conf})
    assert not problems, violation_message(problems)
    return out["config"]


def problems(name: str, conf: dict) -> dict[str, str]:
    """``{"config.field": message}`` for an invalid config (``@entity`` for record checks)."""
    installed(name)
    _, found = validate_plugin({"name": name, "config": conf})
    return {".".join(str(p) for p in path): message for path, message in found}


def handler(
    name: str, conf: dict, *, plugin: dict | None = None, services: PluginServices | None = None
) -> Any:
    """A handler of plugin ``name`` built as the gateway builds it."""
    entity = {"id": "6d0e6bd5-45d9-4f42-9b6a-6f1b3c1f4b0a", "name": name, **(plugin or {})}
    return plugin_def(name).handler(
        freeze(config(name, conf)), freeze(entity), services or PluginServices()
    )


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
    return {n.decode(): v.decode() for n, v in headers}


def body_json(local: LocalResponse, request_id: bytes = b"req-1") -> dict:
    _, body = local.render(request_id)
    return json.loads(body)
