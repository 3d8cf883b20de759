"""The proxy engine on a background event loop, routing every request to one local upstream
through a ``FilterChain`` of plugin handlers - the smallest real deployment of a plugin.

``ChainProxy(upstream_port, handlers, **proxy_settings)`` starts a ``ProxyServer`` on a free
127.0.0.1 port; ``swap(handlers)`` installs another chain the way a reload does. Requests are
made with ``gwharness.http`` (plain ``http.client``) or raw sockets, from the test's thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from carbonplane.gateway.runtime.headers import gateway_defaults
from carbonplane.proxy.app import FilterChain, FixedTarget, RouteDecision, Upstream
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.server import ProxyServer


class OneRoute:
    """A ProxyApp: every request goes to the upstream through ``chain``, path unchanged."""

    def __init__(self, upstream: Upstream, chain: FilterChain) -> None:
        self.upstream = upstream
        self.chain = chain

    def route(self, ctx: Any) -> RouteDecision:
        request = ctx.request
        return RouteDecision(self.upstream, request.path + request.query, None, self.chain)


class ChainProxy:
    def __init__(self, upstream_port: int, handlers: list, **settings: Any) -> None:
        self.upstream = Upstream(
            "stand-in",
            FixedTarget("127.0.0.1", upstream_port),
            connect_timeout=5,
            read_timeout=10,
            write_timeout=10,
            retries=0,
        )
        self.settings = settings
        self.handlers = handlers
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="chain-proxy", daemon=True
        )
        self.server: ProxyServer | None = None
        self.port = 0

    def config(self, handlers: list) -> ProxyConfig:
        app = OneRoute(self.upstream, FilterChain(handlers))
        return ProxyConfig(app=app, **{**gateway_defaults(), **self.settings})

    def start(self) -> ChainProxy:
        self.thread.start()

        async def boot() -> int:
            self.server = ProxyServer(self.config(self.handlers), self.loop)
            return await self.server.start("127.0.0.1", 0)

        self.port = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(10)
        return self

    def swap(self, handlers: list) -> None:
        config = self.config(handlers)
        self.loop.call_soon_threadsafe(self.server.swap, config)

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.close(1.0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def __enter__(self) -> ChainProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes or goes quiet
    after a complete response head with a body length we can see."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                piece = sock.recv(65536)
            except TimeoutError:
                break
            if not piece:
                break
            chunks.append(piece)
            joined = b"".join(chunks)
            head, sep, body = joined.partition(b"\r\n\r\n")
            if sep and b"content-length:" in head.lower():
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
        return b"".join(chunks)


def stand_in_upstream():
    """A started ``gwharness.StandIn`` (echo upstream), stopped afterwards; use as a fixture."""
    from gwharness import StandIn

    upstream = StandIn("echo").start()
    try:
        yield upstream
    finally:
        upstream.stop()


def seen_header(doc: dict, name: str) -> list[str]:
    """Every value of header ``name`` the stand-in received."""
    return [v for n, v in doc["headers"] if n == name]


def handler(name: str, config: dict | None = None, gw: Any = None) -> Any:
    """A plugin handler built as the gateway builds it: config validated by the plugin's
    schema, the consumers and credentials of ``gw`` in its services."""
    from carbonplane.gateway.config.entities import validate_plugin
    from carbonplane.gateway.plugins import PluginServices, load_bundled, plugin_def
    from carbonplane.gateway.plugins.pdk.credentials import CredentialIndex

    load_bundled()
    row, problems = validate_plugin({"name": name, "config": config or {}})
    assert not problems, problems
    services = PluginServices(credentials=None if gw is None else CredentialIndex(gw))
    return plugin_def(name).handler(row["config"], row, services)


def gateway(consumers: list[dict]) -> Any:
    from carbonplane.gateway.config.loader import load_config_data

    return load_config_data({"_format_version": "3.0", "consumers": consumers})
