"""A tiny built-in app: a static prefix route table to fixed upstream addresses.

Used by the engine's tests and benchmarks, and as the smallest example of the seam::

    app = StaticApp({"/": "127.0.0.1:8080", "/api": "127.0.0.1:9000"})
    config = ProxyConfig(app=app)

The longest matching prefix wins; no match -> 404 ``{"message":"no Route matched with those
values"}`` (Kong's body). The path is sent upstream normalised, with its query; Host is the
upstream address. ``config_from_json`` is the worker factory the ``Supervisor`` uses with this
app: its payload is JSON ``{"routes": {...}, "upstream": {...}, "proxy": {...}}`` where
``upstream`` holds Upstream keyword arguments (timeouts, retries) and ``proxy`` ProxyConfig
fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.http.model import Limits
from carbonplane.proxy.app import (
    EMPTY_CHAIN,
    FilterChain,
    FixedTarget,
    LocalResponse,
    RequestContext,
    RouteDecision,
    Upstream,
)
from carbonplane.proxy.config import ProxyConfig

NO_ROUTE = "no Route matched with those values"


def parse_address(text: str, where: str, *, any_port: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); port 0 ("any free port") only with ``any_port``."""
    host, sep, port = text.rpartition(":")
    low = 0 if any_port else 1
    if not sep or not host or not port.isdigit() or not low <= int(port) < 65536:
        raise ConfigError(f"{text!r} is not HOST:PORT", where=where)
    return host.strip("[]"), int(port)


class StaticApp:
    """Route by longest path prefix; see the module docstring."""

    def __init__(
        self,
        routes: Mapping[str, str | Upstream],
        *,
        filters: FilterChain = EMPTY_CHAIN,
        upstream_options: Mapping[str, Any] | None = None,
        buffer_request: bool = False,
    ) -> None:
        table = []
        for prefix, dest in routes.items():
            if not prefix.startswith("/"):
                raise ConfigError(f"route prefix {prefix!r} must start with '/'", where="routes")
            if not isinstance(dest, Upstream):
                host, port = parse_address(dest, f"routes[{prefix!r}]")
                dest = Upstream(dest, FixedTarget(host, port), **dict(upstream_options or {}))
            table.append((prefix.encode(), dest))
        table.sort(key=lambda item: len(item[0]), reverse=True)
        self.table = tuple(table)
        self.filters = filters
        self.buffer_request = buffer_request  # read whole request bodies before the upstream

    def route(self, ctx: RequestContext) -> RouteDecision | LocalResponse:
        request = ctx.request
        path = request.path
        for prefix, upstream in self.table:
            if path.startswith(prefix):
                return RouteDecision(
                    upstream,
                    path + request.query,
                    None,
                    self.filters,
                    buffer_request=self.buffer_request,
                )
        return LocalResponse.error(404, NO_ROUTE, filters=self.filters)


def config_from_json(payload: bytes, version: int = 0) -> ProxyConfig:
    """Worker factory: a ``ProxyConfig`` running ``StaticApp`` from a JSON payload."""
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise ConfigError(f"invalid JSON: {exc}", where="static proxy config") from None
    options = dict(doc.get("proxy", {}))
    if "limits" in options:
        options["limits"] = Limits(**options["limits"])
    if "trusted_ips" in options:
        options["trusted_ips"] = tuple(options["trusted_ips"])
    app = StaticApp(doc["routes"], upstream_options=doc.get("upstream"))
    return ProxyConfig(app=app, version=version, **options)
